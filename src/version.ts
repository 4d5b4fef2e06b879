// The tool's version, as --version prints it and every catalog records it.

export const TOOL_VERSION = '0.1.0';
