/** Prints the Temporal CLI in use, building it into the per-user cache first when there is none. */
import { ensureTemporalCli, temporalCliVersion } from '../platform/temporal-cli';

ensureTemporalCli()
  .then((cli) => console.error(`conveyor: Temporal CLI ${temporalCliVersion(cli.path)} (${cli.source}: ${cli.path})`))
  .catch((error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exit(1);
  });
