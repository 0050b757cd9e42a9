export { parseDescriptor, type ParseDescriptorOptions } from './parse-descriptor';
export { writeDescriptor } from './write-descriptor';
export { applyProductProperties } from './product-properties';
export { DEFAULT_DESCRIPTOR_LIMITS, type DescriptorLimits } from './xml-tree';
export { diskFormatOfUri, STREAM_OPTIMIZED_URI } from './disk-formats';
