// Original file: proto/etcdserverpb/raft_internal.proto

import type { PutRequest as _etcdserverpb_PutRequest, PutRequest__Output as _etcdserverpb_PutRequest__Output } from '../etcdserverpb/PutRequest.js';
import type { DeleteRangeRequest as _etcdserverpb_DeleteRangeRequest, DeleteRangeRequest__Output as _etcdserverpb_DeleteRangeRequest__Output } from '../etcdserverpb/DeleteRangeRequest.js';
import type { TxnRequest as _etcdserverpb_TxnRequest, TxnRequest__Output as _etcdserverpb_TxnRequest__Output } from '../etcdserverpb/TxnRequest.js';
import type { CompactionRequest as _etcdserverpb_CompactionRequest, CompactionRequest__Output as _etcdserverpb_CompactionRequest__Output } from '../etcdserverpb/CompactionRequest.js';
import type { LeaseGrantRequest as _etcdserverpb_LeaseGrantRequest, LeaseGrantRequest__Output as _etcdserverpb_LeaseGrantRequest__Output } from '../etcdserverpb/LeaseGrantRequest.js';
import type { LeaseRevokeRequest as _etcdserverpb_LeaseRevokeRequest, LeaseRevokeRequest__Output as _etcdserverpb_LeaseRevokeRequest__Output } from '../etcdserverpb/LeaseRevokeRequest.js';
import type { AlarmRequest as _etcdserverpb_AlarmRequest, AlarmRequest__Output as _etcdserverpb_AlarmRequest__Output } from '../etcdserverpb/AlarmRequest.js';
import type { LeaseCheckpointRequest as _etcdserverpb_LeaseCheckpointRequest, LeaseCheckpointRequest__Output as _etcdserverpb_LeaseCheckpointRequest__Output } from '../etcdserverpb/LeaseCheckpointRequest.js';
import type { Long } from '@grpc/proto-loader';

export interface InternalRequest {
  'ID'?: (number | string | Long);
  'put'?: (_etcdserverpb_PutRequest | null);
  'delete_range'?: (_etcdserverpb_DeleteRangeRequest | null);
  'txn'?: (_etcdserverpb_TxnRequest | null);
  'compaction'?: (_etcdserverpb_CompactionRequest | null);
  'lease_grant'?: (_etcdserverpb_LeaseGrantRequest | null);
  'lease_revoke'?: (_etcdserverpb_LeaseRevokeRequest | null);
  'alarm'?: (_etcdserverpb_AlarmRequest | null);
  'lease_checkpoint'?: (_etcdserverpb_LeaseCheckpointRequest | null);
}

export interface InternalRequest__Output {
  'ID': (string);
  'put': (_etcdserverpb_PutRequest__Output | null);
  'delete_range': (_etcdserverpb_DeleteRangeRequest__Output | null);
  'txn': (_etcdserverpb_TxnRequest__Output | null);
  'compaction': (_etcdserverpb_CompactionRequest__Output | null);
  'lease_grant': (_etcdserverpb_LeaseGrantRequest__Output | null);
  'lease_revoke': (_etcdserverpb_LeaseRevokeRequest__Output | null);
  'alarm': (_etcdserverpb_AlarmRequest__Output | null);
  'lease_checkpoint': (_etcdserverpb_LeaseCheckpointRequest__Output | null);
}
