/** @river/bench: River's load generator as a library (used by `npm run bench` and `river bench`). */
export { runRemoteBench, RemoteBenchError, type RemoteBenchOptions } from './remote.js';
export { WorkerPool, LOOPBACK_SOURCES, MAX_PER_WORKER, type PoolStats, type OpenTotals } from './pool.js';
export {
  fanoutStep,
  idleMemory,
  acceptRate,
  presenceStorm,
  openSpec,
  type Ctx,
  type StepResult,
  type StepOptions,
  type MemoryResult,
  type AcceptResult,
  type PresenceResult,
} from './scenarios.js';
export { runPlan, QUICK, FULL, workersFor, type TargetResult, type PlanOptions } from './suite.js';
export { startRiver, startSocketIo, startRaw, remoteRiver, heapUsed, BenchSetupError, type Target, type RemoteOptions } from './targets.js';
export { renderTables, checkTargets, type RunResult } from './report.js';
export { machine, writeResult } from './run.js';
export { runIdle } from './idle.js';
export { Publisher, paced } from './publisher.js';
export { Histogram, summarize, usPerMessage, ratio, type LatencySummary } from './stats.js';
export { sampleProcess } from './proc.js';
