/** Namespace URIs the descriptor is read by; prefixes are the writer's choice and mean nothing. */
export const OVF1_NAMESPACE = 'http://schemas.dmtf.org/ovf/envelope/1';
export const OVF2_NAMESPACE = 'http://schemas.dmtf.org/ovf/envelope/2';
const CIM_SCHEMA = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2';
export const RASD_NAMESPACE = `${CIM_SCHEMA}/CIM_ResourceAllocationSettingData`;
export const VSSD_NAMESPACE = `${CIM_SCHEMA}/CIM_VirtualSystemSettingData`;
export const SASD_NAMESPACE = `${CIM_SCHEMA}/CIM_StorageAllocationSettingData`;
export const EPASD_NAMESPACE = `${CIM_SCHEMA}/CIM_EthernetPortAllocationSettingData`;
export const CIM_COMMON_NAMESPACE = 'http://schemas.dmtf.org/wbem/wscim/1/common';
export const VMW_NAMESPACE = 'http://www.vmware.com/schema/ovf';
export const VBOX_NAMESPACE = 'http://www.virtualbox.org/ovf/machine';
export const XSI_NAMESPACE = 'http://www.w3.org/2001/XMLSchema-instance';
