// Stands in for @grpc/grpc-js inside the CLI bundle (scripts/build.mjs aliases it): the only thing
// the bundled code takes from grpc-js is the `status` enum of src/api/errors.ts.
import { Status } from './status.js';

export const status = Status;
