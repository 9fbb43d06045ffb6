import type { RegistryProcess } from './lib/registry.ts';
import { residentMemory } from './lib/registry.ts';

export interface MemoryResult {
  catalogSize: number;
  /** Resident set of the registry now (VmRSS; with its worker processes, if any), MB. */
  rssMb: number;
  /** Processes counted (the registry and its workers). */
  processes: number;
  /** Its peak resident set (VmHWM), MB; null where /proc is unavailable. */
  peakRssMb: number | null;
  /** Resident set after `idleS` seconds without requests (V8's memory reducer may return pages by then), MB. */
  idleRssMb: number;
  idleS: number;
  /** Whether the database runs inside the registry process (PGlite), so its memory counts too. */
  databaseInProcess: boolean;
}

/**
 * Resident memory of the registry child right after the runs at `catalogSize` tools (the tracked
 * figure), its peak, and again after `idleS` idle seconds.
 */
export async function measureMemory(registry: RegistryProcess, catalogSize: number, databaseInProcess: boolean, idleS = 10): Promise<MemoryResult> {
  const pid = registry.pid;
  const { rssMb, peakRssMb, processes } = await residentMemory(pid);
  await new Promise((resolve) => setTimeout(resolve, idleS * 1000));
  const idle = await residentMemory(registry.pid);
  return { catalogSize, rssMb, processes, peakRssMb, idleRssMb: idle.rssMb, idleS, databaseInProcess };
}

/** Resident memory of the registry at a named point of the run (to see what grows it). */
export interface MemorySample {
  at: string;
  rssMb: number;
}

/** Appends the registry's current resident memory to `samples`, labelled `at`. */
export async function sampleMemory(registry: RegistryProcess, at: string, samples: MemorySample[]): Promise<void> {
  samples.push({ at, rssMb: (await residentMemory(registry.pid)).rssMb });
}
