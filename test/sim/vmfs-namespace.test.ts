// Namespace of the simulated host: datastore aliases and bracket paths, the in-memory tree, rename, error codes.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openVfs, type SimVfs } from '../../src/sim/vmfs/index.js';
import { MiB, expectCode, makeStateDir, pseudoRandom } from './vmfs-helpers.js';

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('simulated host namespace', () => {
  let state: ReturnType<typeof makeStateDir>;
  let vfs: SimVfs;
  let uuid1: string;
  beforeEach(() => {
    state = makeStateDir();
    vfs = openVfs({
      stateDir: state.dir,
      datastores: [
        { name: 'datastore1', capacity: 64 * MiB },
        { name: 'san lun 2', capacity: 64 * MiB, uuid: '4655dd66-758d208c-1b24-001aa0187722' },
      ],
    });
    uuid1 = vfs.datastores()[0]!.uuid;
  });
  afterEach(() => {
    vfs.close();
    state.cleanup();
  });

  it('generates host-shaped volume ids and lists uuids and names under /vmfs/volumes', () => {
    const [ds1, ds2] = vfs.datastores();
    expect(ds1!.uuid).toMatch(UUID_SHAPE);
    expect(ds1!.lvid).toMatch(UUID_SHAPE);
    expect(ds1!.lvid.slice(-12)).toBe(ds1!.uuid.slice(-12));
    expect(ds2!.uuid).toBe('4655dd66-758d208c-1b24-001aa0187722');
    expect(vfs.list('/vmfs/volumes')).toEqual(
      ['4655dd66-758d208c-1b24-001aa0187722', uuid1, 'datastore1', 'san lun 2'].sort(),
    );
    expect(vfs.list('/vmfs')).toEqual(['volumes']);
    expect(vfs.stat('/vmfs/volumes/datastore1')?.type).toBe('dir');
  });

  it('resolves the name alias, bracket paths and messy paths to the canonical uuid path', () => {
    vfs.mkdir('/vmfs/volumes/datastore1/web 01');
    vfs.writeFile('[datastore1] web 01/web 01.vmx', 'displayName = "web 01"\n');
    const canonical = `/vmfs/volumes/${uuid1}/web 01/web 01.vmx`;
    expect(vfs.canonical('[datastore1] web 01/web 01.vmx')).toBe(canonical);
    expect(vfs.canonical('/vmfs/volumes/datastore1//web 01/./../web 01/web 01.vmx/')).toBe(canonical);
    expect(vfs.canonical(canonical)).toBe(canonical);
    expect(vfs.bracketPath(canonical)).toBe('[datastore1] web 01/web 01.vmx');
    expect(vfs.bracketPath('/vmfs/volumes/datastore1/web 01/web 01.vmx')).toBe('[datastore1] web 01/web 01.vmx');
    expect(vfs.readFile(canonical).toString()).toBe('displayName = "web 01"\n');
    expect(vfs.list(`/vmfs/volumes/${uuid1}/web 01`)).toEqual(['web 01.vmx']);
    expect(vfs.canonical('[san lun 2] a/b')).toBe('/vmfs/volumes/4655dd66-758d208c-1b24-001aa0187722/a/b');
    expect(vfs.canonical('/tmp//x/../y')).toBe('/tmp/y');
    expect(expectCode(() => vfs.bracketPath('/tmp/y'))).toBe('EINVAL');
    expect(expectCode(() => vfs.canonical('[nosuch] a'))).toBe('ENOENT');
  });

  it('keeps everything outside /vmfs/volumes in an in-memory tree', () => {
    expect(vfs.list('/')).toEqual(['bin', 'etc', 'tmp', 'usr', 'vmfs']);
    expect(vfs.list('/usr')).toEqual(['sbin']);
    vfs.writeFile('/tmp/note', 'hello');
    const file = vfs.open('/tmp/note');
    file.write(Buffer.from(' world'), 5);
    expect(vfs.readFile('/tmp/note').toString()).toBe('hello world');
    file.truncate(4);
    expect(vfs.readFile('/tmp/note').toString()).toBe('hell');
    expect(vfs.stat('/tmp/note')).toMatchObject({ type: 'file', size: 4 });
    expect(expectCode(() => vfs.blockMap('/tmp/note'))).toBe('EINVAL');
    expect(expectCode(() => vfs.mkdir('/vmfs/other'))).toBe('EACCES');
  });

  it('sorts listings bytewise', () => {
    for (const name of ['b', 'B', 'a', 'é', '_', '10', '9']) vfs.writeFile(`/tmp/${name}`, '');
    expect(vfs.list('/tmp')).toEqual(['10', '9', 'B', '_', 'a', 'b', 'é']);
  });

  it('raises POSIX codes carrying the path', () => {
    const ds = '/vmfs/volumes/datastore1';
    vfs.writeFile(`${ds}/file`, 'x');
    vfs.mkdir(`${ds}/dir/sub`, { recursive: true });
    vfs.writeFile(`${ds}/dir/sub/f`, 'y');
    let err: unknown;
    try {
      vfs.readFile(`${ds}/missing`);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ENOENT', path: `${ds}/missing` });
    expect(expectCode(() => vfs.readFile(`${ds}/file/x`))).toBe('ENOTDIR');
    expect(expectCode(() => vfs.createFile(`${ds}/file/x`))).toBe('ENOTDIR');
    expect(expectCode(() => vfs.list(`${ds}/file`))).toBe('ENOTDIR');
    expect(expectCode(() => vfs.createFile(`${ds}/nodir/x`))).toBe('ENOENT');
    expect(expectCode(() => vfs.open(`${ds}/dir`))).toBe('EISDIR');
    expect(expectCode(() => vfs.createFile(`${ds}/dir`))).toBe('EISDIR');
    expect(expectCode(() => vfs.mkdir(`${ds}/dir`))).toBe('EEXIST');
    expect(expectCode(() => vfs.mkdir(`${ds}/file`, { recursive: true }))).toBe('EEXIST');
    expect(expectCode(() => vfs.mkdir(`${ds}/a/b`))).toBe('ENOENT');
    expect(expectCode(() => vfs.remove(`${ds}/dir`))).toBe('ENOTEMPTY');
    expect(expectCode(() => vfs.remove(ds))).toBe('EACCES');
    expect(expectCode(() => vfs.remove(`${ds}/missing`))).toBe('ENOENT');
    expect(expectCode(() => vfs.rename(`${ds}/dir`, `${ds}/dir/sub/inner`))).toBe('EINVAL');
    expect(expectCode(() => vfs.rename(`${ds}/file`, `${ds}/dir`))).toBe('EISDIR');
    expect(expectCode(() => vfs.stat('relative/path'))).toBe('EINVAL');
    expect(vfs.stat(`${ds}/file/x`)).toBeUndefined();
    expect(vfs.stat('/vmfs/volumes/nosuch/x')).toBeUndefined();
    vfs.remove(`${ds}/dir`, { recursive: true });
    expect(vfs.list(ds)).toEqual(['file']);
  });

  it('renames within a datastore without moving data, and copies across datastores', () => {
    const data = pseudoRandom(5 * MiB + 3, 'mv');
    vfs.mkdir('[datastore1] vm');
    vfs.createFile('[datastore1] vm/disk-flat.vmdk', { size: data.length, thin: true });
    const file = vfs.open('[datastore1] vm/disk-flat.vmdk');
    file.write(data.subarray(0, MiB), 0);
    file.write(data.subarray(3 * MiB), 3 * MiB);
    const model = Buffer.alloc(data.length);
    data.copy(model, 0, 0, MiB);
    data.copy(model, 3 * MiB, 3 * MiB);
    const map = vfs.blockMap('[datastore1] vm/disk-flat.vmdk');

    vfs.rename('/vmfs/volumes/datastore1/vm', `/vmfs/volumes/${uuid1}/vm-moved`);
    expect(vfs.blockMap('[datastore1] vm-moved/disk-flat.vmdk')).toEqual(map);
    expect(file.read(Buffer.alloc(10), 0)).toBe(10);

    const freeBefore = vfs.datastores()[0]!.free;
    vfs.rename('[datastore1] vm-moved', '[san lun 2] vm');
    expect(vfs.stat('[datastore1] vm-moved')).toBeUndefined();
    expect(vfs.datastores()[0]!.free).toBe(freeBefore + 4 * MiB);
    expect(vfs.readFile('[san lun 2] vm/disk-flat.vmdk').equals(model)).toBe(true);
    expect(vfs.stat('[san lun 2] vm/disk-flat.vmdk')).toMatchObject({ thin: true, allocated: 4 * MiB });
    expect(expectCode(() => file.read(Buffer.alloc(10), 0))).toBe('ENOENT');

    vfs.rename('[san lun 2] vm/disk-flat.vmdk', '/tmp/disk');
    expect(vfs.readFile('/tmp/disk').equals(model)).toBe(true);
  });

  it('replaces an existing file on createFile and rename', () => {
    vfs.writeFile('[datastore1] a', 'aaa');
    vfs.writeFile('[datastore1] b', 'bbb');
    vfs.rename('[datastore1] a', '[datastore1] b');
    expect(vfs.list('[datastore1]')).toEqual(['b']);
    expect(vfs.readFile('[datastore1] b').toString()).toBe('aaa');
    vfs.createFile('[datastore1] b', { size: 4 });
    expect(vfs.readFile('[datastore1] b').equals(Buffer.alloc(4))).toBe(true);
  });
});
