import { attachmentFor } from './export-vm.http.controller';

describe('the file an export is saved as', () => {
  it('is the VM’s name', () => {
    expect(attachmentFor('web-01')).toBe(
      `attachment; filename="web-01.ova"; filename*=UTF-8''web-01.ova`,
    );
  });

  it('cannot break out of its header, whatever the name holds', () => {
    const header = attachmentFor('a"b\\c\r\nSet-Cookie: x=1; ñ');
    expect(header).not.toMatch(/[\r\n]/);
    // The quoted name has no quote or backslash of its own; the name itself travels encoded.
    expect(header).toContain('filename="a_b_c__Set-Cookie: x=1; _.ova"');
    expect(header).toContain(
      `filename*=UTF-8''${encodeURIComponent('a"b\\c\r\nSet-Cookie: x=1; ñ.ova')}`,
    );
    expect(attachmentFor("it's (mine)!")).toContain(`filename*=UTF-8''it%27s%20%28mine%29%21.ova`);
  });
});
