// Cluster service: membership. One member today; membership changes need the Raft cluster.
import * as grpc from '@grpc/grpc-js';
import { EtcdError } from '../../api/errors.js';
import type { ClusterHandlers } from '../../api/gen/etcdserverpb/Cluster.js';
import type { Member } from '../../api/gen/etcdserverpb/Member.js';
import type { EtcdServer } from '../server.js';
import { unary } from './util.js';

function members(server: EtcdServer): Member[] {
  const m = server.member;
  return [{ ID: m.id.toString(), name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner }];
}

/** etcd answers membership calls with a header that carries no revision. */
function header(server: EtcdServer) {
  return { ...server.header(), revision: 0 };
}

function needsCluster(what: string): never {
  const msg = `etcd-ts: ${what} needs cluster mode, which this server does not have yet`;
  throw new EtcdError('Unknown', msg, grpc.status.UNIMPLEMENTED);
}

export function clusterHandlers(server: EtcdServer): ClusterHandlers {
  const isSelf = (id: string): boolean => BigInt(id || '0') === server.memberId;
  return {
    MemberList: unary(() => ({ header: header(server), members: members(server) })),
    MemberAdd: unary((req) => {
      for (const u of req.peerURLs) {
        try {
          new URL(u);
        } catch {
          throw EtcdError.of('MemberBadURLs');
        }
      }
      if (req.peerURLs.some((u) => server.member.peerURLs.includes(u))) throw EtcdError.of('PeerURLExist');
      return needsCluster('adding a member');
    }),
    MemberRemove: unary((req) => {
      if (!isSelf(req.ID)) throw EtcdError.of('MemberNotFound');
      return needsCluster('removing a member');
    }),
    MemberUpdate: unary((req) => {
      if (!isSelf(req.ID)) throw EtcdError.of('MemberNotFound');
      return needsCluster('updating a member');
    }),
    MemberPromote: unary((req) => {
      if (!isSelf(req.ID)) throw EtcdError.of('MemberNotFound');
      throw EtcdError.of('MemberNotLearner');
    }),
  };
}
