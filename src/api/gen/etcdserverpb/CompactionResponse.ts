// Original file: proto/etcdserverpb/rpc.proto

import type { ResponseHeader as _etcdserverpb_ResponseHeader, ResponseHeader__Output as _etcdserverpb_ResponseHeader__Output } from '../etcdserverpb/ResponseHeader.js';

export interface CompactionResponse {
  'header'?: (_etcdserverpb_ResponseHeader | null);
}

export interface CompactionResponse__Output {
  'header': (_etcdserverpb_ResponseHeader__Output | null);
}
