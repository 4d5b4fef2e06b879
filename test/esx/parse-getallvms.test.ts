import { describe, expect, it } from 'vitest';
import { parseGetAllVms } from '../../src/esx/parse/getallvms.js';
import { catchVcbError } from './catch-error.js';

const HEADER = 'Vmid      Name                   File                          Guest OS          Version   Annotation';

describe('parseGetAllVms', () => {
  it('reads names with spaces, the bracket path and hardware version', () => {
    const out = [
      HEADER,
      '12     web 01        [datastore1] web 01/web 01.vmx    otherLinux64Guest   vmx-13              ',
      '3      db            [san-lun 2] db/db.vmx             windows9Server64Guest vmx-11   production database',
      '',
    ].join('\n');
    const { vms, skipped } = parseGetAllVms(out);
    expect(skipped).toEqual([]);
    expect(vms).toEqual([
      {
        vmid: '12',
        name: 'web 01',
        bracketPath: '[datastore1] web 01/web 01.vmx',
        guestOs: 'otherLinux64Guest',
        version: 'vmx-13',
        annotation: '',
      },
      {
        vmid: '3',
        name: 'db',
        bracketPath: '[san-lun 2] db/db.vmx',
        guestOs: 'windows9Server64Guest',
        version: 'vmx-11',
        annotation: 'production database',
      },
    ]);
  });

  it('joins multi-line annotations, including lines that start with digits', () => {
    const out = [
      HEADER,
      '7      app (new)     [ds1] app (new)/app (new).vmx   centos64Guest   vmx-8    first line',
      'second line',
      '2019 migration notes',
      '',
      '8      x; touch /tmp/p [ds1] x; touch _tmp_p/x; touch _tmp_p.vmx   otherGuest   vmx-14',
    ].join('\r\n');
    const { vms } = parseGetAllVms(out);
    expect(vms.map((v) => [v.vmid, v.name])).toEqual([
      ['7', 'app (new)'],
      ['8', 'x; touch /tmp/p'],
    ]);
    expect(vms[0]!.annotation).toBe('first line\nsecond line\n2019 migration notes');
    expect(vms[1]!.bracketPath).toBe('[ds1] x; touch _tmp_p/x; touch _tmp_p.vmx');
  });

  it('prefers the split whose file name matches the VM name when the name holds brackets', () => {
    const out = `${HEADER}\n5   web [old] [ds1] web [old]/web [old].vmx   otherGuest   vmx-10\n`;
    const [vm] = parseGetAllVms(out).vms;
    expect(vm!.name).toBe('web [old]');
    expect(vm!.bracketPath).toBe('[ds1] web [old]/web [old].vmx');
  });

  it('keeps non-ASCII names', () => {
    const out = `${HEADER}\n21   Bücher-Server ü   [datastore1] Bücher/Bücher.vmx   debian10_64Guest   vmx-15\n`;
    expect(parseGetAllVms(out).vms[0]!.name).toBe('Bücher-Server ü');
  });

  it('records skipped invalid VMs and accepts an empty inventory', () => {
    const out = `Skipping invalid VM '44'\n${HEADER}\n`;
    expect(parseGetAllVms(out)).toEqual({ vms: [], skipped: ['44'] });
  });

  it.each([
    ['no header at all', '12  web  [ds] web/web.vmx  otherGuest  vmx-13\n', 1, 'header'],
    ['garbage before the header', 'hostd is not running\n' + HEADER + '\n', 1, 'hostd is not running'],
    ['a row without a .vmx token', `${HEADER}\n12   web   /vmfs/volumes/ds/web.vmx  otherGuest vmx-13\n`, 2, '/vmfs/volumes/ds/web.vmx'],
    ['empty output', '', undefined, 'header'],
  ])('fails on %s, naming the line', (_label, out, lineNumber, mention) => {
    const err = catchVcbError(() => parseGetAllVms(out));
    expect(err.code).toBe('HOST_COMMAND');
    expect(err.context.command).toEqual(['vim-cmd', 'vmsvc/getallvms']);
    expect(err.message).toContain(mention);
    if (lineNumber !== undefined) expect(err.message).toContain(`line ${lineNumber}`);
  });
});
