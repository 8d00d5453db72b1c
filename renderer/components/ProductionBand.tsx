// The coloured band at the top of every screen while the active connection is
// marked production (and a quieter one for read-only): the server a change
// would land on is never in doubt.
import { useActiveConnection } from '../api/active-connection';

export function ProductionBand() {
  const { profile } = useActiveConnection();
  if (!profile || (!profile.production && !profile.readOnly)) return null;
  const where = `${profile.user}@${profile.host}:${profile.port}/${profile.database}${profile.ssh ? ` via ${profile.ssh.host}` : ''}`;
  return (
    <div
      className={profile.production ? 'production-band' : 'production-band read-only'}
      role="note"
      data-testid="production-band"
      data-production={profile.production ? 'true' : 'false'}
    >
      <strong>{profile.production ? 'Production' : 'Read-only'}</strong>
      <span className="production-band-name">{profile.name}</span>
      <span className="mono production-band-where">{where}</span>
      {profile.production && profile.readOnly && <span className="production-band-flag">read-only</span>}
    </div>
  );
}
