import type { OvfProductProperty, OvfVirtualSystem } from '../model';
import { parseDescriptor } from './parse-descriptor';
import { applyProductProperties, readQualifiers } from './product-properties';

/** A vSphere-style vApp: ProductSection properties of every CIM type, with qualifiers. */
const APPLIANCE = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <References/>
  <VirtualSystem ovf:id="appliance">
    <Info>An appliance</Info>
    <ProductSection ovf:class="vami" ovf:instance="appliance">
      <Info>Network settings</Info>
      <Property ovf:key="ip0" ovf:type="string" ovf:userConfigurable="true" ovf:qualifiers="Ip"><Label>IP address</Label></Property>
    </ProductSection>
    <ProductSection>
      <Info>Application settings</Info>
      <Category>General</Category>
      <Property ovf:key="hostname" ovf:type="string" ovf:userConfigurable="true" ovf:qualifiers="MinLen(1),MaxLen(8)"/>
      <Property ovf:key="size" ovf:type="string" ovf:value="small" ovf:userConfigurable="true" ovf:qualifiers='ValueMap{"small","medium", "large"}'/>
      <Property ovf:key="workers" ovf:type="uint8" ovf:value="4" ovf:userConfigurable="true" ovf:qualifiers="MinValue(1) MaxValue(64)"/>
      <Property ovf:key="offset" ovf:type="sint16" ovf:value="0" ovf:userConfigurable="true"/>
      <Property ovf:key="ssh" ovf:type="boolean" ovf:value="false" ovf:userConfigurable="true"/>
      <Property ovf:key="ratio" ovf:type="real64" ovf:value="0.5" ovf:userConfigurable="true"/>
      <Property ovf:key="build" ovf:type="string" ovf:value="1234"/>
    </ProductSection>
    <VirtualHardwareSection>
      <Info>Hardware</Info>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>512</rasd:VirtualQuantity></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>`;

function system(xml = APPLIANCE): OvfVirtualSystem {
  const result = parseDescriptor(xml);
  if (!result.ok) throw new Error(JSON.stringify(result.reasons));
  return result.envelope.virtualSystems[0];
}

describe('product properties', () => {
  it('reads every property with its key, type, default and limits', () => {
    const byKey = Object.fromEntries(system().products.map((property) => [property.key, property]));
    expect(Object.keys(byKey)).toEqual([
      'vami.ip0.appliance',
      'hostname',
      'size',
      'workers',
      'offset',
      'ssh',
      'ratio',
      'build',
    ]);
    expect(byKey['vami.ip0.appliance']).toEqual<OvfProductProperty>({
      key: 'vami.ip0.appliance',
      type: 'string',
      defaultValue: null,
      userConfigurable: true,
      label: 'IP address',
      allowedValues: null,
      constraints: {},
    });
    expect(byKey.hostname.constraints).toEqual({ minLength: 1, maxLength: 8 });
    expect(byKey.size.allowedValues).toEqual(['small', 'medium', 'large']);
    expect(byKey.workers).toMatchObject({
      type: 'uint8',
      defaultValue: '4',
      constraints: { minValue: 1, maxValue: 64 },
    });
    expect(byKey.build.userConfigurable).toBe(false);
  });

  it('refuses a property type OVF does not define, and qualifiers it cannot read', () => {
    const xml = APPLIANCE.replace(
      'ovf:key="ssh" ovf:type="boolean"',
      'ovf:key="ssh" ovf:type="bool"',
    ).replace('MinLen(1),MaxLen(8)', 'MaxLen(eight)');
    const result = parseDescriptor(xml);
    expect(result.ok ? [] : result.reasons.map((reason) => [reason.code, reason.at])).toEqual([
      ['OVF.BAD_PROPERTY', '/Envelope/VirtualSystem/ProductSection[2]/Property[1]'],
      ['OVF.BAD_PROPERTY', '/Envelope/VirtualSystem/ProductSection[2]/Property[5]'],
    ]);
  });

  it('refuses a property declared twice', () => {
    const result = parseDescriptor(APPLIANCE.replace('ovf:key="offset"', 'ovf:key="workers"'));
    expect(result.ok ? [] : result.reasons.map((reason) => reason.code)).toEqual([
      'OVF.DUPLICATE_ID',
    ]);
  });

  describe('readQualifiers', () => {
    it.each([
      ['ValueMap{"a,b", "c"}', { allowedValues: ['a,b', 'c'] }],
      ['Ip(network)', { allowedValues: null }],
      ['MinLen(0) MaxLen(65535)', { allowedValues: null, minLength: 0, maxLength: 65535 }],
    ])('reads %s', (text, qualifiers) => {
      expect(readQualifiers(text)).toEqual({ ok: true, qualifiers });
    });

    it.each(['ValueMap{"a"', 'ValueMap{a}', 'MaxLen(3', '!', 'MinValue(1e3)'])(
      'refuses %s',
      (text) => {
        expect(readQualifiers(text).ok).toBe(false);
      },
    );
  });

  describe('applyProductProperties', () => {
    it('accepts values that fit', () => {
      expect(
        applyProductProperties(system(), {
          hostname: 'web01',
          size: 'large',
          workers: '64',
          offset: '-32768',
          ssh: 'TRUE',
          ratio: '1e-3',
          'vami.ip0.appliance': '10.0.0.5',
        }),
      ).toEqual([]);
    });

    it('refuses an unknown key', () => {
      expect(applyProductProperties(system(), { nosuch: 'x' })).toEqual([
        {
          code: 'OVF.UNKNOWN_PROPERTY',
          detail: 'system appliance has no property nosuch',
          at: expect.stringContaining('nosuch'),
        },
      ]);
    });

    it('refuses a property that is not user-configurable', () => {
      expect(
        applyProductProperties(system(), { build: '99' }).map((reason) => reason.code),
      ).toEqual(['OVF.PROPERTY_NOT_CONFIGURABLE']);
    });

    it('refuses a value outside ValueMap', () => {
      expect(applyProductProperties(system(), { size: 'huge' })).toEqual([
        expect.objectContaining({
          code: 'OVF.PROPERTY_VALUE_NOT_ALLOWED',
          detail: expect.stringContaining("'small', 'medium', 'large'"),
        }),
      ]);
    });

    it.each([
      ['hostname', '', 'fewer than 1'],
      ['hostname', 'much-too-long', 'more than 8'],
      ['workers', 'four', 'not a whole number'],
      ['workers', '256', 'outside the range of uint8'],
      ['workers', '65', 'more than 64'],
      ['workers', '0', 'less than 1'],
      ['workers', '1.5', 'not a whole number'],
      ['offset', '40000', 'outside the range of sint16'],
      ['ssh', 'yes', 'not true or false'],
      ['ratio', 'half', 'not a number'],
      ['ratio', '', 'not a number'],
    ])('refuses %s = %j (%s)', (key, value, problem) => {
      const reasons = applyProductProperties(system(), { [key]: value });
      expect(reasons).toEqual([
        expect.objectContaining({
          code: 'OVF.PROPERTY_VALUE_INVALID',
          detail: expect.stringContaining(problem),
        }),
      ]);
    });

    it('gives every reason at once', () => {
      const reasons = applyProductProperties(system(), {
        nosuch: '1',
        build: '2',
        size: 'huge',
        ssh: 'maybe',
      });
      expect(reasons.map((reason) => reason.code)).toEqual([
        'OVF.UNKNOWN_PROPERTY',
        'OVF.PROPERTY_NOT_CONFIGURABLE',
        'OVF.PROPERTY_VALUE_NOT_ALLOWED',
        'OVF.PROPERTY_VALUE_INVALID',
      ]);
    });
  });
});
