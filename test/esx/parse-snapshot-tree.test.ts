import { describe, expect, it } from 'vitest';
import { parseSnapshotGet } from '../../src/esx/parse/snapshot-tree.js';
import { catchVcbError } from './catch-error.js';

const WITH_IDS = `Get Snapshot:
|-ROOT
--Snapshot Name        : snap01
--Snapshot Id          : 1
--Snapshot Desciption  : snap01 description
--Snapshot Created On  : 2/23/2015 18:12:50
--Snapshot State       : powered on
--|-CHILD
----Snapshot Name        : snap02
----Snapshot Id          : 2
----Snapshot Desciption  : 
----Snapshot Created On  : 2/24/2015 1:2:3
----Snapshot State       : powered off
----|-CHILD
------Snapshot Name        : _VCB-BACKUP_
------Snapshot Id          : 5
------Snapshot Desciption  : vcbmounter: backup in progress
------Snapshot Created On  : 3/1/2015 4:5:6
------Snapshot State       : powered on
--|-CHILD
----Snapshot Name        : other branch
----Snapshot Id          : 3
----Snapshot Desciption  : x; touch /tmp/p
----Snapshot Created On  : 2/25/2015 0:0:0
----Snapshot State       : powered off
`;

describe('parseSnapshotGet', () => {
  it('flattens the tree depth-first with depth, parents and paths', () => {
    const list = parseSnapshotGet(WITH_IDS);
    expect(list.map((s) => [s.name, s.id, s.depth, s.parentName, s.parentId])).toEqual([
      ['snap01', '1', 0, undefined, undefined],
      ['snap02', '2', 1, 'snap01', '1'],
      ['_VCB-BACKUP_', '5', 2, 'snap02', '2'],
      ['other branch', '3', 1, 'snap01', '1'],
    ]);
    expect(list[2]!.path).toEqual(['snap01', 'snap02', '_VCB-BACKUP_']);
    expect(list[0]).toMatchObject({ description: 'snap01 description', createdOn: '2/23/2015 18:12:50', state: 'powered on' });
    expect(list[1]!.description).toBe('');
    expect(list[3]!.description).toBe('x; touch /tmp/p');
  });

  it('reads older builds without ids and with the corrected "Description" spelling', () => {
    const out = `Get Snapshot:\n|-ROOT\n--Snapshot Name        : base\n--Snapshot Description  : d\n--Snapshot Created On  : 1/9/2019 10:6:14\n--Snapshot State       : powered off\n--|-CHILD\n----Snapshot Name        : next\n----Snapshot Description  : \n----Snapshot Created On  : 1/9/2019 11:0:0\n----Snapshot State       : powered off\n`;
    const list = parseSnapshotGet(out);
    expect(list.map((s) => [s.name, s.id, s.description, s.parentName, s.parentId])).toEqual([
      ['base', undefined, 'd', undefined, undefined],
      ['next', undefined, '', 'base', undefined],
    ]);
  });

  it('ignores unknown Snapshot fields and returns [] for the single "Get Snapshot:" line', () => {
    const out = `Get Snapshot:\r\n|-ROOT\r\n--Snapshot Name        : a\r\n--Snapshot Quiesced    : true\r\n`;
    expect(parseSnapshotGet(out).map((s) => s.name)).toEqual(['a']);
    expect(parseSnapshotGet('Get Snapshot:\n')).toEqual([]);
    expect(parseSnapshotGet('Get Snapshot:')).toEqual([]);
  });

  it.each([
    ['a missing header', '|-ROOT\n--Snapshot Name : a\n', 'line 1', 'Get Snapshot'],
    ['a skipped tree level', 'Get Snapshot:\n|-ROOT\n--Snapshot Name : a\n----|-CHILD\n------Snapshot Name : b\n', 'line 4', 'level skipped'],
    ['a stray line', 'Get Snapshot:\n|-ROOT\n--Snapshot Name : a\nsomething else\n', 'line 4', 'something else'],
    ['a node without a name', 'Get Snapshot:\n|-ROOT\n--Snapshot Id : 1\n', 'line 2', 'Snapshot Name'],
    ['a field at the wrong depth', 'Get Snapshot:\n|-ROOT\n----Snapshot Name : a\n', 'line 3', 'indentation'],
  ])('fails on %s, naming the line', (_label, out, where, mention) => {
    const err = catchVcbError(() => parseSnapshotGet(out, ['vim-cmd', 'vmsvc/snapshot.get', '12']));
    expect(err.code).toBe('HOST_COMMAND');
    expect(err.context.command).toEqual(['vim-cmd', 'vmsvc/snapshot.get', '12']);
    expect(err.message).toContain(where);
    expect(err.message).toContain(mention);
  });
});
