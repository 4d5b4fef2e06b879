// VMDK text descriptors, one import for the model (vmdk-model.ts), its text form (vmdk-text.ts) and the builders (vmdk-builders.ts).

export * from './vmdk-model.js';
export * from './vmdk-text.js';
export * from './vmdk-builders.js';
