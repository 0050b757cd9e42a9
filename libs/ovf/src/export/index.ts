export { hashFile } from './hash-file';
export {
  type OvaFile,
  type OvaParts,
  USTAR_MAX_MEMBER_BYTES,
  type WriteOvaOptions,
  writeOva,
} from './write-ova';
