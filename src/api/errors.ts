// The wire errors of the etcd v3 API: one table from an error's name to its gRPC status code and
// the exact message etcd sends. Clients (etcd's Go client, etcd3 on npm, etcdctl) match errors by
// this text, so it must stay byte-for-byte etcd's. The server raises EtcdError; the client maps a
// received status back to the same EtcdError by message.
import { status } from '@grpc/grpc-js';

export const WIRE_ERRORS = {
  EmptyKey: [status.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  KeyNotFound: [status.INVALID_ARGUMENT, 'etcdserver: key not found'],
  ValueProvided: [status.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  LeaseProvided: [status.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  TooManyOps: [status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  DuplicateKey: [status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  InvalidSortOption: [status.INVALID_ARGUMENT, 'etcdserver: invalid sort option'],
  Compacted: [status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  FutureRev: [status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  NoSpace: [status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],

  LeaseNotFound: [status.NOT_FOUND, 'etcdserver: requested lease not found'],
  LeaseExist: [status.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
  LeaseTTLTooLarge: [status.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],

  MemberExist: [status.FAILED_PRECONDITION, 'etcdserver: member ID already exist'],
  PeerURLExist: [status.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'],
  MemberNotEnoughStarted: [status.FAILED_PRECONDITION, 'etcdserver: re-configuration failed due to not enough started members'],
  MemberBadURLs: [status.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
  MemberNotFound: [status.NOT_FOUND, 'etcdserver: member not found'],
  MemberNotLearner: [status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'],
  LearnerNotReady: [status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader'],
  TooManyLearners: [status.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'],

  RequestTooLarge: [status.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  TooManyRequests: [status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'],

  RootUserNotExist: [status.FAILED_PRECONDITION, 'etcdserver: root user does not exist'],
  RootRoleNotExist: [status.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'],
  UserAlreadyExist: [status.FAILED_PRECONDITION, 'etcdserver: user name already exists'],
  UserEmpty: [status.INVALID_ARGUMENT, 'etcdserver: user name is empty'],
  UserNotFound: [status.FAILED_PRECONDITION, 'etcdserver: user name not found'],
  RoleAlreadyExist: [status.FAILED_PRECONDITION, 'etcdserver: role name already exists'],
  RoleNotFound: [status.FAILED_PRECONDITION, 'etcdserver: role name not found'],
  RoleEmpty: [status.INVALID_ARGUMENT, 'etcdserver: role name is empty'],
  AuthFailed: [status.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'],
  PermissionDenied: [status.PERMISSION_DENIED, 'etcdserver: permission denied'],
  RoleNotGranted: [status.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'],
  PermissionNotGranted: [status.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'],
  AuthNotEnabled: [status.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'],
  InvalidAuthToken: [status.UNAUTHENTICATED, 'etcdserver: invalid auth token'],
  InvalidAuthMgmt: [status.INVALID_ARGUMENT, 'etcdserver: invalid auth management'],
  AuthOldRevision: [status.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'],

  NoLeader: [status.UNAVAILABLE, 'etcdserver: no leader'],
  NotLeader: [status.FAILED_PRECONDITION, 'etcdserver: not leader'],
  LeaderChanged: [status.UNAVAILABLE, 'etcdserver: leader changed'],
  NotCapable: [status.UNAVAILABLE, 'etcdserver: not capable'],
  Stopped: [status.UNAVAILABLE, 'etcdserver: server stopped'],
  Timeout: [status.UNAVAILABLE, 'etcdserver: request timed out'],
  TimeoutDueToLeaderFail: [status.UNAVAILABLE, 'etcdserver: request timed out, possibly due to previous leader failure'],
  TimeoutDueToConnectionLost: [status.UNAVAILABLE, 'etcdserver: request timed out, possibly due to connection lost'],
  Unhealthy: [status.UNAVAILABLE, 'etcdserver: unhealthy cluster'],
  Corrupt: [status.DATA_LOSS, 'etcdserver: corrupt cluster'],
  BadLeaderTransferee: [status.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'],
  TimeoutWaitAppliedIndex: [status.UNAVAILABLE, 'etcdserver: request timed out, waiting for the applied index took too long'],
  WatchCanceled: [status.CANCELLED, 'etcdserver: watch canceled'],
} as const satisfies Record<string, readonly [status, string]>;

export type WireErrorName = keyof typeof WIRE_ERRORS;

/** An error of the etcd v3 API, carrying its gRPC code and etcd's exact message. */
export class EtcdError extends Error {
  readonly code: status;
  constructor(readonly errorName: WireErrorName | 'Unknown', message: string, code: status) {
    super(message);
    this.name = 'EtcdError';
    this.code = code;
  }

  /** The error the server raises for a table entry. */
  static of(name: WireErrorName): EtcdError {
    const [code, message] = WIRE_ERRORS[name];
    return new EtcdError(name, message, code);
  }

  /** Matches a received gRPC status back to its table entry by message, as etcd's clients do. */
  static fromStatus(code: status, message: string): EtcdError {
    const name = BY_MESSAGE.get(message);
    return new EtcdError(name ?? 'Unknown', message, code);
  }

  /** True when this error is the named table entry. */
  is(name: WireErrorName): boolean {
    return this.errorName === name;
  }
}

const BY_MESSAGE = new Map<string, WireErrorName>(
  (Object.entries(WIRE_ERRORS) as [WireErrorName, readonly [status, string]][]).map(([n, [, m]]) => [m, n]),
);
