/** Which descriptors the build writes (proto/descriptor.ts) and where proto/load.ts finds them. */

/** The service files the processes load (each with its imports). */
export const SERVICE_FILES = ['api', 'agent', 'bootstrap', 'slugs'] as const;
export type ServiceFile = (typeof SERVICE_FILES)[number];

/** The descriptors' folder, relative to the folder of the compiled proto/load.ts (dist/proto). */
export const DESCRIPTOR_DIR = 'descriptors';
