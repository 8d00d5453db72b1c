-- require_read_committed(what): refuses a call made in a transaction that is
-- not READ COMMITTED, naming the call and the setting that lets it run.
--
-- Why: the functions that call it take a lock that the sessions writing the
-- table must release first (the routing view, a leaf, a key's partition),
-- then read what those sessions wrote (the rows to move, whether a leaf is
-- empty, the change log) and act on it. At READ COMMITTED each statement
-- takes its snapshot when it starts, after the lock: it sees every change
-- committed by a session it waited for. Under REPEATABLE READ or SERIALIZABLE
-- the snapshot is the transaction's, taken by its first statement, which is
-- the call itself, before the lock: those changes are invisible to it, and
-- it moves rows without them (key_share_switch then drops the key's
-- partition with them inside), drops a leaf that is no longer empty, or
-- carries a log back without its last entries. A DBA may make REPEATABLE
-- READ the default of a database or role (default_transaction_isolation);
-- Partwise's own connections set READ COMMITTED (electron/engine/
-- session-defaults.ts), so only a direct call can meet this
-- (isolation-guard.db.test.ts).
-- Refused rather than worked around: a function cannot change the isolation
-- of the transaction it runs in, and a later snapshot cannot be had in it.
-- No locks.
CREATE OR REPLACE FUNCTION @extschema@.require_read_committed(p_what text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_isolation text := current_setting('transaction_isolation');
BEGIN
  IF v_isolation <> 'read committed' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_transaction_state',
      MESSAGE = format('partwise: %s must run at READ COMMITTED, and this transaction is %s', p_what, upper(v_isolation)),
      DETAIL = 'It locks, then reads what the sessions it waited for wrote; in a snapshot older than its locks it would not see their changes.',
      HINT = format('Run it in a READ COMMITTED transaction: SET default_transaction_isolation = ''read committed'' in the session first (the database or role defaults to %s), or BEGIN ISOLATION LEVEL READ COMMITTED around a SELECT.',
                    upper(current_setting('default_transaction_isolation')));
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.require_read_committed(text) IS
  'Raises unless the transaction is READ COMMITTED: for the functions that lock, then read what the sessions they waited for wrote.';
