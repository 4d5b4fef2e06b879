// The listing selectors and their glob matcher, table-tested (the CLI tests run them against a simulated host).

import { expect, test } from 'vitest';
import { globToRegExp, matchesVmSelector, parseListSelector } from '../../src/workflow/vm-match.js';
import type { VmListing } from '../../src/workflow/vm-listing.js';

test.each([
  ['web*', ['web01', 'web', 'web 02', 'web/x'], ['xweb', 'Web01']],
  ['w?b', ['web', 'w b'], ['wb', 'weeb']],
  ['[a-c]x', ['ax', 'bx'], ['dx', '-x']],
  ['[!a-c]x', ['dx', '-x'], ['ax']],
  ['[^a]', ['b'], ['a']],
  ['[]a]', [']', 'a'], ['b']],
  ['[a-]', ['a', '-'], ['b']],
  ['[a\\-z]', ['a', '-', 'z'], ['b']],
  ['a\\*', ['a*'], ['ab']],
  ['a\\[b', ['a[b'], ['ab']],
  ['x; $(touch p) *', ['x; $(touch p) y'], ['x']],
  ['(.+)|^$*', ['(.+)|^$', '(.+)|^$zz'], ['a']],
  ['[ ]?', [' x'], ['xx']],
  ['ä*', ['äbc'], ['abc']],
])('glob %s', (glob, yes, no) => {
  const re = globToRegExp(glob);
  for (const n of yes) expect(re.test(n), n).toBe(true);
  for (const n of no) expect(re.test(n), n).toBe(false);
});

test.each([
  ['foo', /^selector "foo": not a selector; use any, name:/],
  ['name:', /the name is empty/],
  ['name:[ab', /the \[ at character 1 is never closed/],
  ['powerstate:suspended', /not a power state \(on or off\)/],
  ['ipaddr:web01', /not an IP address/],
  ['uuid:12 34', /not a BIOS uuid/],
  ['host:esx01', /"host:" is not a selector kind/],
  ['moref:', /the moref is empty/],
])('%s is refused as USAGE', (text, message) => {
  expect(() => parseListSelector(text)).toThrow(message);
  try {
    parseListSelector(text);
  } catch (e) {
    expect((e as { code: string }).code).toBe('USAGE');
  }
});

test('the flag a selector came from is named', () => {
  expect(() => parseListSelector('nope', 'select[1]')).toThrow(/^select\[1\] "nope"/);
});

const vm = (over: Partial<VmListing>): VmListing => ({
  ref: { id: '1', name: 'web01', vmxPath: '/vmfs/volumes/ds/web01/web01.vmx' },
  name: 'web01',
  moref: '1',
  power: 'on',
  datastore: 'ds',
  ...over,
});

test('each kind matches what it names', () => {
  const a = vm({ uuid: '564d0a0b-0c0d-0e0f-1011-121314151617', ip: '10.0.0.5' });
  expect(matchesVmSelector(a, 'any')).toBe(true);
  expect(matchesVmSelector(a, 'name:web01')).toBe(true);
  expect(matchesVmSelector(a, 'name:web0')).toBe(false);
  expect(matchesVmSelector(a, 'name:WEB*')).toBe(false);
  expect(matchesVmSelector(a, 'name:web*')).toBe(true);
  expect(matchesVmSelector(a, 'ipaddr:10.0.0.5')).toBe(true);
  expect(matchesVmSelector(a, 'ipaddr:10.0.0.6')).toBe(false);
  expect(matchesVmSelector(a, 'uuid:56 4d 0a 0b 0c 0d 0e 0f-10 11 12 13 14 15 16 17')).toBe(true);
  expect(matchesVmSelector(vm({}), 'uuid:56 4d 0a 0b 0c 0d 0e 0f-10 11 12 13 14 15 16 17')).toBe(false);
  expect(matchesVmSelector(a, 'moref:1')).toBe(true);
  expect(matchesVmSelector(a, 'powerstate:on')).toBe(true);
  expect(matchesVmSelector(a, 'powerstate:off')).toBe(false);
  expect(matchesVmSelector(vm({ power: 'suspended' }), 'powerstate:off')).toBe(true);
  expect(matchesVmSelector(a, parseListSelector('name:w?b01'))).toBe(true);
  // Without *, ? or [ a name is exact: its backslashes are part of it.
  expect(matchesVmSelector(vm({ name: 'dom\\web' }), 'name:dom\\web')).toBe(true);
  expect(matchesVmSelector(vm({ name: 'domweb' }), 'name:dom\\web')).toBe(false);
  expect(matchesVmSelector(vm({ name: 'a*' }), 'name:a\\*')).toBe(true);
  expect(matchesVmSelector(vm({ name: 'ab' }), 'name:a\\*')).toBe(false);
});
