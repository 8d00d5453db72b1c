-- Who may use Partwise's schema. Routed inserts run as the application's
-- roles, and the routing trigger's code names functions of this schema, so
-- every role needs USAGE on it: granted to PUBLIC. USAGE only lets a role
-- look names up; what it may do with them is decided per object, so nothing
-- here is executable by PUBLIC (PostgreSQL's default for new functions)
-- except what routed inserts call with the inserting role's rights:
--   raise_violation, violation_detail  raise a constraint violation naming the
--                                      table, showing what the caller may read;
--   sync_grants_<id>                   brings one table's routing grants in line
--                                      with its view's (no arguments).
-- take_bucket_<id> is granted per table to the roles that may insert into it
-- (grant_routing). The metadata tables, views and sequences grant nothing to
-- PUBLIC. Re-applied on every install; functions created later (per table)
-- are revoked where they are created, and by the default privileges below
-- for those the installing role creates.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA @extschema@ FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA @extschema@ REVOKE EXECUTE ON ROUTINES FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.raise_violation(regclass, regclass, "char", name, text, anyelement) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.violation_detail(regclass, anyelement) TO PUBLIC;
DO $$
DECLARE
  v_function regprocedure;
BEGIN
  FOR v_function IN
    SELECT to_regprocedure(format('@extschema@.%I()', 'sync_grants_' || config_id))
      FROM @extschema@.partition_config
  LOOP
    IF v_function IS NOT NULL THEN
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', v_function);
    END IF;
  END LOOP;
END;
$$;
