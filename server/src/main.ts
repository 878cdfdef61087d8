/**
 * The process entry: `node server/dist/main.js`. Reads the environment, starts a node, logs one
 * "listening" line, drains on SIGTERM/SIGINT and exits 0. A configuration error is one line on
 * stderr and exit code 1.
 */
import { pino } from 'pino';
import { loadConfig, type Config } from './config.js';
import { watchEcsTask } from './aws/ecs-task-watch.js';
import { startEmfMetrics } from './aws/emf-metrics.js';
import { ConfigError } from './errors.js';
import { startRiver } from './node.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`river: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { service: 'river' } });
  // A stray rejected promise is a bug to log, not a reason to drop every client's connection.
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  let node;
  try {
    // RIVER_JWT_SECRET_ID: startRiver loads the Secrets Manager source (node.ts, the one place, lazily;
    // AWSCURRENT + AWSPREVIOUS, re-read every 5 minutes): a failed first read is a startup error.
    node = await startRiver(config, { logger });
  } catch (err) {
    if (err instanceof ConfigError || (err instanceof Error && (err as Error & { code?: unknown }).code === 'secret_unavailable')) {
      process.stderr.write(`river: ${err.message}\n`);
      process.exit(1);
    }
    logger.fatal({ err }, 'failed to start');
    process.exit(2);
  }
  logger.info({ port: node.port, host: node.host, http: node.urls.http, ws: node.urls.ws }, 'listening');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    node.drain().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // On ECS, SIGTERM comes only after the target group's deregistration delay, when the ALB has
  // already cut every WebSocket: drain as soon as ECS sets the task's desired status to STOPPED.
  if (config.ecsMetadataUri !== undefined) {
    watchEcsTask({ metadataUri: config.ecsMetadataUri, logger, onStopping: () => stop('ECS task stopping') });
  }
  // The connection count for the autoscaling policy (templates/), as one CloudWatch EMF line a minute.
  if (config.emfMetrics) {
    const running = node;
    startEmfMetrics({
      serviceName: config.serviceName,
      readConnections: () => running.connections,
      write: (line) => process.stdout.write(line),
      logger,
    });
  }
}

void main();
