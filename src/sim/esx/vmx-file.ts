// .vmx and .vmsd files of the simulated host: ordered `key = "value"` lines with VMware's |XX escapes.

/** Ordered key/value config, as VMware writes .vmx and .vmsd files. */
export class ConfigFile {
  private readonly entries = new Map<string, string>();

  static parse(text: string): ConfigFile {
    const cfg = new ConfigFile();
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const m = /^([^=\s]+)\s*=\s*"(.*)"$/.exec(line);
      if (m) cfg.set(m[1]!, unescapeValue(m[2]!));
    }
    return cfg;
  }

  get(key: string): string | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const lower = key.toLowerCase();
    for (const [k, v] of this.entries) if (k.toLowerCase() === lower) return v;
    return undefined;
  }

  set(key: string, value: string): void {
    for (const k of this.entries.keys()) {
      if (k.toLowerCase() === key.toLowerCase() && k !== key) {
        this.entries.set(k, value);
        return;
      }
    }
    this.entries.set(key, value);
  }

  delete(key: string): void {
    for (const k of [...this.entries.keys()]) if (k.toLowerCase() === key.toLowerCase()) this.entries.delete(k);
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  format(): string {
    return [...this.entries].map(([k, v]) => `${k} = "${escapeValue(v)}"`).join('\n') + '\n';
  }
}

/** VMware escapes `"`, `|`, `#` and control characters in values as |XX (hex). */
export function escapeValue(v: string): string {
  return v.replace(/["|#\x00-\x1f]/g, (c) => `|${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export function unescapeValue(v: string): string {
  return v.replace(/\|([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}
