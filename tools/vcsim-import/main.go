// Command vcsim-import imports an OVA into govmomi's vSphere simulator (vcsim, run in-process) the
// way `govc import.ova` does, and prints the virtual machine vcsim built as one JSON object.
//
// Dolly's exports must be readable by other tools (issue 14). Debian ships govmomi 0.24 as Go
// sources (golang-github-vmware-govmomi-dev) but no govc command, so this program does govc's
// import flow itself: the descriptor is read from the OVA (a tar), OvfManager.CreateImportSpec
// turns it into an import spec (every warning and error it returns is printed, and any of them
// fails the run), ResourcePool.ImportVApp creates the VM and an HttpNfcLease, each file the spec
// names is uploaded from the OVA to its lease device URL (the NFC upload), the lease is completed,
// and the VM's configuration is read back.
//
// vcsim is lenient: it throws uploaded bytes away, attaches a NIC to "VM Network" when its
// network is unknown, ignores rasd:Address (the MAC), and panics on some malformed descriptors.
// So this program also refuses, before anything is imported and with every reason at once, what
// vCenter or ovftool would refuse: a descriptor that is not the OVA's first member, a member that
// is not a plain regular file or appears twice, a reference missing or of the wrong size, a
// manifest digest that does not match (or a file the manifest does not list), a disk item whose
// controller or disk is not declared, a network that vcsim lacks and -network-map does not map,
// and a disk that is not a streamOptimized VMDK or is larger than its declared capacity.
//
// Build (offline, Debian packages golang-go and golang-github-vmware-govmomi-dev, GOPATH mode):
// tools/vcsim-import/build.sh, which writes .local/bin/vcsim-import. Use:
//
//	vcsim-import -ova app.ova -name app [-network-map 'Src Net=VM Network' ...]
//
// Exit status 0 with the JSON on stdout; 1 with one reason per line on stderr otherwise; 2 for
// wrong flags.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"io/ioutil"
	"log"
	"math"
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Bounds on what is read into memory: descriptors and manifests are small text files, and a
// hostile package must not make this program allocate its size.
const (
	maxDescriptorBytes = 16 << 20
	maxManifestBytes   = 1 << 20
	// A streamOptimized header plus its embedded descriptor fit well within this.
	maxVmdkHeadBytes = 1 << 20
	// How long the whole run (simulator, import, upload) may take before it is abandoned.
	runTimeout = 5 * time.Minute
)

// problems collects every reason a package is refused, so one run reports them all.
type problems []string

func (p *problems) add(format string, args ...interface{}) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "\n"))
}

// networkMap is the repeatable -network-map flag: descriptor network name → vcsim network name.
type networkMap map[string]string

func (m networkMap) String() string { return fmt.Sprint(map[string]string(m)) }

func (m networkMap) Set(value string) error {
	i := strings.Index(value, "=")
	if i <= 0 || i == len(value)-1 {
		return fmt.Errorf("%q is not src=dst", value)
	}
	src, dst := value[:i], value[i+1:]
	if _, twice := m[src]; twice {
		return fmt.Errorf("network %q is mapped twice", src)
	}
	m[src] = dst
	return nil
}

func main() {
	networks := networkMap{}
	ovaPath := flag.String("ova", "", "path of the OVA to import")
	name := flag.String("name", "", "name of the new virtual machine")
	flag.Var(networks, "network-map", "src=dst: attach the descriptor's network src to vcsim's network dst (repeatable)")
	flag.Parse()
	if *ovaPath == "" || *name == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "vcsim-import: usage: vcsim-import -ova <path> -name <vm name> [-network-map src=dst ...]")
		os.Exit(2)
	}

	// vcsim logs every request and NFC transfer through the standard logger: keep it for a failure.
	var simulatorLog boundedLog
	log.SetOutput(&simulatorLog)

	vm, err := run(*ovaPath, *name, networks)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vcsim-import: %s\n", strings.ReplaceAll(err.Error(), "\n", "\nvcsim-import: "))
		if tail := simulatorLog.tail(); tail != "" {
			fmt.Fprintf(os.Stderr, "vcsim-import: the simulator's last log lines:\n%s", tail)
		}
		os.Exit(1)
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(vm); err != nil {
		fmt.Fprintf(os.Stderr, "vcsim-import: writing the result: %s\n", err)
		os.Exit(1)
	}
}

// boundedLog keeps the last 16 KiB the simulator logged.
type boundedLog struct{ buf []byte }

func (l *boundedLog) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - 16<<10; over > 0 {
		l.buf = append([]byte(nil), l.buf[over:]...)
	}
	return len(p), nil
}

func (l *boundedLog) tail() string { return string(l.buf) }

func run(ovaPath, name string, networks networkMap) (*importedVM, error) {
	pkg, err := openPackage(ovaPath)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()

	model := simulator.VPX()
	if err := model.Create(); err != nil {
		return nil, fmt.Errorf("starting vcsim: %s", err)
	}
	defer model.Remove()
	// TLS as in a real vCenter: the NFC device URLs the lease hands out are https.
	model.Service.TLS = new(tls.Config)
	server := model.Service.NewServer()
	defer server.Close()
	client, err := govmomi.NewClient(ctx, server.URL, true)
	if err != nil {
		return nil, fmt.Errorf("connecting to vcsim: %s", err)
	}
	defer func() { _ = client.Logout(context.Background()) }()

	return importPackage(ctx, client.Client, pkg, name, networks)
}

// ovaPackage is what the first reads of the OVA learned: its members, descriptor and manifest.
type ovaPackage struct {
	path           string
	descriptorName string
	descriptor     []byte
	envelope       *ovf.Envelope
	memberSize     map[string]int64
	manifestName   string
	// manifest: file name → algorithm and lower-case hex digest.
	manifest map[string]manifestEntry
}

type manifestEntry struct {
	algorithm string
	digest    string
}

// openPackage reads the OVA's headers, descriptor and manifest, checks the archive, the
// descriptor and the manifest's digests, and returns every problem it found at once.
func openPackage(ovaPath string) (*ovaPackage, error) {
	f, err := os.Open(ovaPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	pkg := &ovaPackage{path: ovaPath, memberSize: map[string]int64{}}
	var found problems
	var manifestText []byte
	reader := tar.NewReader(f)
	for index := 0; ; index++ {
		header, err := reader.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s is not a readable tar archive: %s", ovaPath, err)
		}
		member := header.Name
		switch {
		case header.Typeflag != tar.TypeReg && header.Typeflag != tar.TypeRegA:
			found.add("archive: member %q is not a regular file (tar type %q)", member, header.Typeflag)
			continue
		case member != path.Base(member) || member == "." || member == "..":
			found.add("archive: member %q has a directory part; an OVA holds plain file names", member)
			continue
		}
		if _, twice := pkg.memberSize[member]; twice {
			found.add("archive: member %q appears twice", member)
			continue
		}
		pkg.memberSize[member] = header.Size
		switch strings.ToLower(path.Ext(member)) {
		case ".ovf":
			if index != 0 {
				found.add("archive: descriptor %q is member %d; the OVF specification requires it first", member, index+1)
			}
			if pkg.descriptorName != "" {
				found.add("archive: a second descriptor %q after %q", member, pkg.descriptorName)
				continue
			}
			pkg.descriptorName = member
			if pkg.descriptor, err = readBounded(reader, header.Size, maxDescriptorBytes, member); err != nil {
				found.add("archive: %s", err)
			}
		case ".mf":
			if pkg.manifestName != "" {
				found.add("archive: a second manifest %q after %q", member, pkg.manifestName)
				continue
			}
			pkg.manifestName = member
			if manifestText, err = readBounded(reader, header.Size, maxManifestBytes, member); err != nil {
				found.add("archive: %s", err)
			}
		}
	}
	if pkg.descriptorName == "" {
		found.add("archive: no descriptor (*.ovf) in %s", ovaPath)
		return nil, found.err()
	}
	if pkg.descriptor == nil {
		return nil, found.err()
	}

	pkg.envelope, err = ovf.Unmarshal(bytes.NewReader(pkg.descriptor))
	if err != nil {
		found.add("descriptor: %s is not a readable OVF envelope: %s", pkg.descriptorName, err)
		return nil, found.err()
	}
	found = append(found, checkEnvelope(pkg)...)

	if pkg.manifestName != "" && manifestText != nil {
		pkg.manifest, err = parseManifest(manifestText)
		if err != nil {
			found.add("manifest: %s: %s", pkg.manifestName, err)
		} else {
			found = append(found, checkManifest(pkg, f)...)
		}
	}
	return pkg, found.err()
}

func readBounded(r io.Reader, size, limit int64, name string) ([]byte, error) {
	if size > limit {
		return nil, fmt.Errorf("%q is %d bytes, more than the %d this reader accepts", name, size, limit)
	}
	return ioutil.ReadAll(io.LimitReader(r, size))
}

// checkEnvelope refuses what vcsim would crash on or silently get wrong, and what vSphere refuses:
// references that are not in the archive (or have another size), disks and controllers that items
// point at but nobody declares.
func checkEnvelope(pkg *ovaPackage) problems {
	var found problems
	env := pkg.envelope
	for _, file := range env.References {
		size, present := pkg.memberSize[file.Href]
		switch {
		case !present:
			found.add("descriptor: file %q (id %q) is not in the archive", file.Href, file.ID)
		case file.Size != 0 && int64(file.Size) != size:
			found.add("descriptor: file %q declares %d bytes, the archive holds %d", file.Href, file.Size, size)
		}
	}
	if env.VirtualSystem == nil {
		found.add("descriptor: no VirtualSystem (a VirtualSystemCollection is not imported by this tool)")
		return found
	}
	if len(env.VirtualSystem.VirtualHardware) == 0 {
		found.add("descriptor: VirtualSystem %q has no VirtualHardwareSection", env.VirtualSystem.ID)
		return found
	}
	disks := map[string]ovf.VirtualDiskDesc{}
	if env.Disk != nil {
		for _, disk := range env.Disk.Disks {
			disks[disk.DiskID] = disk
			if _, err := capacityBytes(disk); err != nil {
				found.add("descriptor: disk %q: %s", disk.DiskID, err)
			}
			if disk.FileRef != nil && !referenceExists(env, *disk.FileRef) {
				found.add("descriptor: disk %q refers to file id %q, which References does not declare", disk.DiskID, *disk.FileRef)
			}
		}
	}
	instances := map[string]bool{}
	for _, item := range env.VirtualSystem.VirtualHardware[0].Item {
		instances[item.InstanceID] = true
	}
	for _, item := range env.VirtualSystem.VirtualHardware[0].Item {
		at := fmt.Sprintf("item %q (InstanceID %q)", item.ElementName, item.InstanceID)
		if item.ResourceType == nil {
			found.add("descriptor: %s has no ResourceType", at)
			continue
		}
		if (*item.ResourceType == 3 || *item.ResourceType == 4) && item.VirtualQuantity == nil {
			found.add("descriptor: %s has no VirtualQuantity", at)
		}
		if *item.ResourceType != 15 && *item.ResourceType != 17 {
			continue
		}
		if item.Parent == nil || !instances[*item.Parent] {
			found.add("descriptor: %s has no Parent controller among the items", at)
		}
		if *item.ResourceType == 17 {
			if len(item.HostResource) == 0 {
				found.add("descriptor: %s has no HostResource", at)
				continue
			}
			id := strings.TrimPrefix(strings.TrimPrefix(item.HostResource[0], "ovf:"), "/disk/")
			if _, declared := disks[id]; !declared {
				found.add("descriptor: %s points at disk %q, which DiskSection does not declare", at, item.HostResource[0])
			}
		}
	}
	return found
}

func referenceExists(env *ovf.Envelope, id string) bool {
	for _, file := range env.References {
		if file.ID == id {
			return true
		}
	}
	return false
}

// capacityBytes reads ovf:capacity with its allocation units ("byte", "byte * 2^30", "byte * 512").
func capacityBytes(disk ovf.VirtualDiskDesc) (int64, error) {
	capacity, err := strconv.ParseInt(disk.Capacity, 10, 64)
	if err != nil || capacity < 0 {
		return 0, fmt.Errorf("capacity %q is not a non-negative integer", disk.Capacity)
	}
	if disk.CapacityAllocationUnits == nil {
		return capacity, nil
	}
	units := strings.Join(strings.Fields(*disk.CapacityAllocationUnits), "")
	var multiplier float64
	if units == "byte" {
		multiplier = 1
	} else if m := regexp.MustCompile(`^byte\*(\d+)(?:\^(\d+))?$`).FindStringSubmatch(units); m != nil {
		base, _ := strconv.ParseFloat(m[1], 64)
		exponent := 1.0
		if m[2] != "" {
			exponent, _ = strconv.ParseFloat(m[2], 64)
		}
		multiplier = math.Pow(base, exponent)
	} else {
		return 0, fmt.Errorf("capacityAllocationUnits %q is not byte, byte * N or byte * B^E", *disk.CapacityAllocationUnits)
	}
	total := float64(capacity) * multiplier
	if total > float64(math.MaxInt64/2) {
		return 0, fmt.Errorf("capacity %s %s is out of range", disk.Capacity, *disk.CapacityAllocationUnits)
	}
	return int64(total), nil
}

// manifestLine accepts ovftool's "SHA256(name)= hex" and the BSD "SHA256 (name) = hex".
var manifestLine = regexp.MustCompile(`^(SHA1|SHA256|SHA512) ?\((.+)\) ?= ?([0-9a-fA-F]+)$`)

func parseManifest(text []byte) (map[string]manifestEntry, error) {
	entries := map[string]manifestEntry{}
	var found problems
	for n, line := range strings.Split(strings.TrimRight(string(text), "\r\n"), "\n") {
		line = strings.TrimRight(line, "\r")
		m := manifestLine.FindStringSubmatch(line)
		if m == nil {
			found.add("line %d %q is not ALGORITHM(file)= digest", n+1, line)
			continue
		}
		if _, twice := entries[m[2]]; twice {
			found.add("line %d lists %q a second time", n+1, m[2])
			continue
		}
		entries[m[2]] = manifestEntry{algorithm: m[1], digest: strings.ToLower(m[3])}
	}
	return entries, found.err()
}

func newHash(algorithm string) hash.Hash {
	switch algorithm {
	case "SHA1":
		return sha1.New()
	case "SHA512":
		return sha512.New()
	default:
		return sha256.New()
	}
}

// checkManifest reads the archive once more, digesting every member the manifest lists: vcsim
// throws uploaded bytes away, so this is what proves the disks are the ones the package declares.
func checkManifest(pkg *ovaPackage, f *os.File) problems {
	var found problems
	for member := range pkg.memberSize {
		if member != pkg.manifestName && !strings.EqualFold(path.Ext(member), ".cert") {
			if _, listed := pkg.manifest[member]; !listed {
				found.add("manifest: archive member %q is not listed", member)
			}
		}
	}
	for listed := range pkg.manifest {
		if _, present := pkg.memberSize[listed]; !present {
			found.add("manifest: lists %q, which is not in the archive", listed)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		found.add("manifest: rereading the archive: %s", err)
		return found
	}
	reader := tar.NewReader(f)
	for {
		header, err := reader.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			found.add("manifest: rereading the archive: %s", err)
			break
		}
		entry, listed := pkg.manifest[header.Name]
		if !listed {
			continue
		}
		digest := newHash(entry.algorithm)
		if _, err := io.Copy(digest, reader); err != nil {
			found.add("manifest: reading %q: %s", header.Name, err)
			continue
		}
		if actual := hex.EncodeToString(digest.Sum(nil)); actual != entry.digest {
			found.add("manifest: %s of %q is %s, the manifest says %s", entry.algorithm, header.Name, actual, entry.digest)
		}
	}
	return found
}

// descriptorNetworks lists the network names the descriptor's NetworkSection and NICs name.
func descriptorNetworks(env *ovf.Envelope) []string {
	seen := map[string]bool{}
	if env.Network != nil {
		for _, n := range env.Network.Networks {
			seen[n.Name] = true
		}
	}
	if env.VirtualSystem != nil && len(env.VirtualSystem.VirtualHardware) > 0 {
		for _, item := range env.VirtualSystem.VirtualHardware[0].Item {
			for _, c := range item.Connection {
				seen[c] = true
			}
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// resolveNetworks maps each of the descriptor's networks to a vcsim network: the -network-map
// entry, or the vcsim network of the same name. vcsim (unlike vSphere's wizard) would attach an
// unknown network to "VM Network" in silence, so an unresolved one is refused here.
func resolveNetworks(ctx context.Context, finder *find.Finder, env *ovf.Envelope, networks networkMap) ([]types.OvfNetworkMapping, error) {
	var found problems
	named := descriptorNetworks(env)
	isNamed := map[string]bool{}
	for _, n := range named {
		isNamed[n] = true
	}
	for src := range networks {
		if !isNamed[src] {
			found.add("network: -network-map maps %q, which the descriptor does not name (it names %q)", src, named)
		}
	}
	var available []string
	if list, err := finder.NetworkList(ctx, "*"); err == nil {
		for _, n := range list {
			available = append(available, path.Base(n.GetInventoryPath()))
		}
	}
	var mapping []types.OvfNetworkMapping
	for _, src := range named {
		dst, mapped := networks[src]
		if !mapped {
			dst = src
		}
		net, err := finder.Network(ctx, dst)
		if err != nil {
			if mapped {
				found.add("network: -network-map %q=%q: vcsim has no network %q (it has %q)", src, dst, dst, available)
			} else {
				found.add("network: the descriptor names network %q, which vcsim lacks (it has %q); map it with -network-map %q=<network>", src, available, src)
			}
			continue
		}
		mapping = append(mapping, types.OvfNetworkMapping{Name: src, Network: net.Reference()})
	}
	return mapping, found.err()
}

func importPackage(ctx context.Context, c *vim25.Client, pkg *ovaPackage, name string, networks networkMap) (*importedVM, error) {
	finder := find.NewFinder(c, false)
	datacenter, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		return nil, fmt.Errorf("vcsim inventory: %s", err)
	}
	finder.SetDatacenter(datacenter)
	datastore, err := finder.DefaultDatastore(ctx)
	if err != nil {
		return nil, fmt.Errorf("vcsim inventory: %s", err)
	}
	host, err := finder.DefaultHostSystem(ctx)
	if err != nil {
		hosts, listErr := finder.HostSystemList(ctx, "*/*")
		if listErr != nil || len(hosts) == 0 {
			return nil, fmt.Errorf("vcsim inventory: %s", err)
		}
		host = hosts[0]
	}
	pool, err := host.ResourcePool(ctx)
	if err != nil {
		return nil, fmt.Errorf("vcsim inventory: %s", err)
	}
	folders, err := datacenter.Folders(ctx)
	if err != nil {
		return nil, fmt.Errorf("vcsim inventory: %s", err)
	}
	mapping, err := resolveNetworks(ctx, finder, pkg.envelope, networks)
	if err != nil {
		return nil, err
	}

	params := types.OvfCreateImportSpecParams{
		EntityName:             name,
		NetworkMapping:         mapping,
		OvfManagerCommonParams: types.OvfManagerCommonParams{Locale: "US"},
	}
	spec, err := ovf.NewManager(c).CreateImportSpec(ctx, string(pkg.descriptor), pool, datastore, params)
	if err != nil {
		return nil, fmt.Errorf("CreateImportSpec: %s", err)
	}
	var refused problems
	for _, w := range spec.Warning {
		refused.add("CreateImportSpec warning: %s", faultMessage(w))
	}
	for _, e := range spec.Error {
		refused.add("CreateImportSpec error: %s", faultMessage(e))
	}
	if err := refused.err(); err != nil {
		return nil, err
	}

	lease, err := pool.ImportVApp(ctx, spec.ImportSpec, folders.VmFolder, host)
	if err != nil {
		return nil, fmt.Errorf("ImportVApp: %s", err)
	}
	entity, uploads, err := uploadThroughLease(ctx, lease, spec.FileItem, pkg)
	if err != nil {
		_ = lease.Abort(ctx, &types.LocalizedMethodFault{LocalizedMessage: err.Error()})
		return nil, err
	}
	vm, err := readBack(ctx, c, entity)
	if err != nil {
		return nil, err
	}
	vm.Uploads = uploads
	return vm, nil
}

func faultMessage(f types.LocalizedMethodFault) string {
	if f.LocalizedMessage != "" {
		return f.LocalizedMessage
	}
	return fmt.Sprintf("%T", f.Fault)
}

// uploadThroughLease waits for the lease, sends each file the import spec names to its device
// URL, and completes the lease; it returns the new VM and what was sent.
func uploadThroughLease(ctx context.Context, lease *nfc.Lease, fileItems []types.OvfFileItem, pkg *ovaPackage) (types.ManagedObjectReference, []upload, error) {
	none := types.ManagedObjectReference{}
	info, err := lease.Wait(ctx, fileItems)
	if err != nil {
		return none, nil, fmt.Errorf("waiting for the NFC lease: %s", err)
	}
	var missing problems
	for _, fileItem := range fileItems {
		matched := false
		for _, item := range info.Items {
			matched = matched || item.DeviceId == fileItem.DeviceId
		}
		if !matched {
			missing.add("NFC lease: no device URL for %q (device %s)", fileItem.Path, fileItem.DeviceId)
		}
	}
	if err := missing.err(); err != nil {
		return none, nil, err
	}

	// The updater reports progress (and keeps the lease alive) from each upload's progress sink.
	updater := lease.StartUpdater(ctx, info)
	defer updater.Done()
	uploads := []upload{}
	for _, item := range info.Items {
		sent, err := uploadMember(ctx, lease, item, pkg)
		if err != nil {
			return none, nil, fmt.Errorf("uploading %q: %s", item.Path, err)
		}
		uploads = append(uploads, upload{Path: item.Path, Bytes: sent})
	}
	if err := lease.Complete(ctx); err != nil {
		return none, nil, fmt.Errorf("completing the NFC lease: %s", err)
	}
	return info.Entity, uploads, nil
}

// uploadMember streams one OVA member to its lease URL, after checking that a disk is a
// streamOptimized VMDK (the only VMDK vSphere's NFC accepts) no larger than its declared capacity.
func uploadMember(ctx context.Context, lease *nfc.Lease, item nfc.FileItem, pkg *ovaPackage) (int64, error) {
	f, err := os.Open(pkg.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	reader := tar.NewReader(f)
	for {
		header, err := reader.Next()
		if err == io.EOF {
			return 0, errors.New("not in the archive")
		}
		if err != nil {
			return 0, err
		}
		if header.Name != item.Path {
			continue
		}
		body := bufio.NewReaderSize(reader, maxVmdkHeadBytes)
		if item.CimType == 17 {
			if err := checkStreamOptimized(body, pkg.envelope, item.Path); err != nil {
				return 0, err
			}
		}
		sent := &countingReader{r: body}
		if err := lease.Upload(ctx, item, sent, soap.Upload{ContentLength: header.Size}); err != nil {
			return sent.n, err
		}
		if sent.n != header.Size {
			return sent.n, fmt.Errorf("sent %d bytes of %d", sent.n, header.Size)
		}
		return sent.n, nil
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// checkStreamOptimized peeks at the VMDK sparse header and its embedded descriptor.
func checkStreamOptimized(body *bufio.Reader, env *ovf.Envelope, member string) error {
	head, _ := body.Peek(512)
	if len(head) < 512 || string(head[:4]) != "KDMV" {
		return errors.New("not a VMDK sparse extent (no KDMV header)")
	}
	capacitySectors := binary.LittleEndian.Uint64(head[12:20])
	descriptorOffset := binary.LittleEndian.Uint64(head[28:36])
	descriptorSectors := binary.LittleEndian.Uint64(head[36:44])
	if descriptorOffset == 0 || descriptorSectors == 0 || (descriptorOffset+descriptorSectors)*512 > maxVmdkHeadBytes {
		return fmt.Errorf("VMDK embedded descriptor at sector %d (%d sectors) is missing or out of reach", descriptorOffset, descriptorSectors)
	}
	window, _ := body.Peek(int((descriptorOffset + descriptorSectors) * 512))
	if uint64(len(window)) < (descriptorOffset+descriptorSectors)*512 {
		return errors.New("VMDK is shorter than its embedded descriptor")
	}
	descriptor := string(bytes.TrimRight(window[descriptorOffset*512:], "\x00"))
	if !regexp.MustCompile(`(?m)^createType\s*=\s*"streamOptimized"`).MatchString(descriptor) {
		return errors.New(`VMDK is not createType="streamOptimized"`)
	}
	declared := declaredCapacity(env, member)
	if declared >= 0 && int64(capacitySectors)*512 > declared {
		return fmt.Errorf("VMDK capacity %d bytes exceeds the descriptor's %d", int64(capacitySectors)*512, declared)
	}
	return nil
}

// declaredCapacity is the capacity in bytes of the disk stored in member, or -1 if none says.
func declaredCapacity(env *ovf.Envelope, member string) int64 {
	if env.Disk == nil {
		return -1
	}
	for _, file := range env.References {
		if file.Href != member {
			continue
		}
		for _, disk := range env.Disk.Disks {
			if disk.FileRef != nil && *disk.FileRef == file.ID {
				if capacity, err := capacityBytes(disk); err == nil {
					return capacity
				}
			}
		}
	}
	return -1
}

// importedVM is what vcsim holds for the new VM: the fields Dolly's descriptor sets.
type importedVM struct {
	Name              string           `json:"name"`
	NumCPU            int32            `json:"numCPU"`
	NumCoresPerSocket int32            `json:"numCoresPerSocket"`
	MemoryMB          int32            `json:"memoryMB"`
	HardwareVersion   string           `json:"hardwareVersion"`
	GuestID           string           `json:"guestId"`
	Controllers       []importedDevice `json:"controllers"`
	Disks             []importedDisk   `json:"disks"`
	Nics              []importedNic    `json:"nics"`
	// Uploads are the files sent through the NFC lease, as vcsim accepted them.
	Uploads []upload `json:"uploads"`
}

type upload struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

type importedDevice struct {
	Key       int32  `json:"key"`
	Type      string `json:"type"`
	BusNumber int32  `json:"busNumber"`
}

type importedDisk struct {
	Label          string `json:"label"`
	CapacityBytes  int64  `json:"capacityBytes"`
	ControllerType string `json:"controllerType"`
	UnitNumber     int32  `json:"unitNumber"`
	FileName       string `json:"fileName"`
}

type importedNic struct {
	Label       string `json:"label"`
	Type        string `json:"type"`
	Network     string `json:"network"`
	MacAddress  string `json:"macAddress,omitempty"`
	AddressType string `json:"addressType,omitempty"`
}

func readBack(ctx context.Context, c *vim25.Client, ref types.ManagedObjectReference) (*importedVM, error) {
	var vm mo.VirtualMachine
	if err := object.NewVirtualMachine(c, ref).Properties(ctx, ref, []string{"name", "config"}, &vm); err != nil {
		return nil, fmt.Errorf("reading the new VM back: %s", err)
	}
	if vm.Config == nil {
		return nil, errors.New("reading the new VM back: vcsim returned no config")
	}
	out := &importedVM{
		Name:              vm.Name,
		NumCPU:            vm.Config.Hardware.NumCPU,
		NumCoresPerSocket: vm.Config.Hardware.NumCoresPerSocket,
		MemoryMB:          vm.Config.Hardware.MemoryMB,
		HardwareVersion:   vm.Config.Version,
		GuestID:           vm.Config.GuestId,
		Controllers:       []importedDevice{},
		Disks:             []importedDisk{},
		Nics:              []importedNic{},
	}
	devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
	for _, device := range devices {
		base := device.GetVirtualDevice()
		switch d := device.(type) {
		case types.BaseVirtualSCSIController:
			out.Controllers = append(out.Controllers, importedDevice{Key: base.Key, Type: devices.Type(device), BusNumber: d.GetVirtualSCSIController().BusNumber})
		case *types.VirtualDisk:
			disk := importedDisk{Label: deviceLabel(base), CapacityBytes: d.CapacityInBytes, FileName: diskFileName(d)}
			if disk.CapacityBytes == 0 {
				disk.CapacityBytes = d.CapacityInKB * 1024
			}
			if controller := devices.FindByKey(base.ControllerKey); controller != nil {
				disk.ControllerType = devices.Type(controller)
			}
			if base.UnitNumber != nil {
				disk.UnitNumber = *base.UnitNumber
			}
			out.Disks = append(out.Disks, disk)
		case types.BaseVirtualEthernetCard:
			card := d.GetVirtualEthernetCard()
			out.Nics = append(out.Nics, importedNic{
				Label:       deviceLabel(base),
				Type:        ethernetCardType(device),
				Network:     networkName(ctx, c, base.Backing),
				MacAddress:  card.MacAddress,
				AddressType: card.AddressType,
			})
		}
	}
	return out, nil
}

// ethernetCardType names a NIC by its vSphere class ("e1000" for VirtualE1000), as the OVF's
// ResourceSubType does; govmomi's VirtualDeviceList.Type says only "ethernet".
func ethernetCardType(device types.BaseVirtualDevice) string {
	return strings.ToLower(strings.TrimPrefix(reflect.TypeOf(device).Elem().Name(), "Virtual"))
}

func deviceLabel(d *types.VirtualDevice) string {
	if d.DeviceInfo == nil {
		return ""
	}
	return d.DeviceInfo.GetDescription().Label
}

func diskFileName(d *types.VirtualDisk) string {
	if backing, ok := d.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
		return backing.GetVirtualDeviceFileBackingInfo().FileName
	}
	return ""
}

// networkName names a NIC's network: a standard network by its device name, a distributed port
// group by the name of the port group its key designates.
func networkName(ctx context.Context, c *vim25.Client, backing types.BaseVirtualDeviceBackingInfo) string {
	switch b := backing.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		return b.DeviceName
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		ref := types.ManagedObjectReference{Type: "DistributedVirtualPortgroup", Value: b.Port.PortgroupKey}
		var pg mo.DistributedVirtualPortgroup
		if err := object.NewCommon(c, ref).Properties(ctx, ref, []string{"name"}, &pg); err == nil {
			return pg.Name
		}
		return b.Port.PortgroupKey
	default:
		return ""
	}
}
