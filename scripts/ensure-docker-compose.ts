/**
 * The Docker Compose the tests validate docker-compose.yml with (`docker compose config` needs no
 * engine): the machine's `docker compose` plugin, or a `docker-compose` on PATH, or one built once from
 * the Go module proxy into the per-user cache. Run directly (npm test does, before vitest) it finds or
 * builds it and prints which one it is.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { conveyorCacheDir, findOnPath, goInstall, isExecutable } from '../platform/go-build';

/** Needs the machine's Go (1.26.8): newer releases need a newer toolchain. */
export const DOCKER_COMPOSE_VERSION = 'v5.6.0';
const COMPOSE_MODULE = 'github.com/docker/compose/v5';

// Its go.mod has exclude directives, which `go install pkg@version` refuses: it is built in a module of its own with the same excludes.
const goMod = `module conveyor.local/docker-compose

go 1.26.8

require ${COMPOSE_MODULE} ${DOCKER_COMPOSE_VERSION}

exclude (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2
)
`;

const cacheDir = (env: NodeJS.ProcessEnv) => conveyorCacheDir(`docker-compose-${DOCKER_COMPOSE_VERSION}`, env);

/** The command that runs Docker Compose (e.g. ['docker', 'compose']), without building anything. */
export function findDockerCompose(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const docker = findOnPath('docker', env);
  if (docker && spawnSync(docker, ['compose', 'version'], { stdio: 'ignore', env }).status === 0) return [docker, 'compose'];
  const onPath = findOnPath('docker-compose', env);
  if (onPath) return [onPath];
  const cached = path.join(cacheDir(env), 'docker-compose');
  return isExecutable(cached) ? [cached] : undefined;
}

export async function ensureDockerCompose(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const found = findDockerCompose(env);
  if (found) return found;
  await goInstall({
    what: `Docker Compose ${DOCKER_COMPOSE_VERSION} (for docker compose config in the tests)`,
    packages: [`${COMPOSE_MODULE}/cmd`],
    version: DOCKER_COMPOSE_VERSION,
    cacheDir: cacheDir(env),
    binaries: { cmd: 'docker-compose' },
    goMod,
    env,
  });
  return [path.join(cacheDir(env), 'docker-compose')];
}

if (require.main === module) {
  ensureDockerCompose()
    .then((command) => console.error(`conveyor: Docker Compose for the compose tests: ${command.join(' ')}`))
    .catch((error: unknown) => {
      console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
      process.exit(1);
    });
}
