// gRPC status codes (the same numbers as grpc-js's `status`), kept here so the CLI's transport does
// not need grpc-js, and Go's names for them as etcd's client prints them ("rpc error: code = ...").
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

const GO_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss',
  'Unauthenticated',
];

/** grpc-go's status error text: `rpc error: code = NotFound desc = ...`. */
export function goStatusText(code: number, details: string): string {
  return `rpc error: code = ${GO_NAMES[code] ?? `Code(${code})`} desc = ${details}`;
}

/** A failed call as the transports report it: a status code and its message. */
export interface CallError extends Error {
  code: number;
  details: string;
}

export function callError(code: number, details: string): CallError {
  const e = new Error(details) as CallError;
  e.code = code;
  e.details = details;
  return e;
}
