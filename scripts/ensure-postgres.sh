#!/usr/bin/env bash
# Makes sure a local PostgreSQL answers for the store tests and prints its
# DSN as the last line on stdout, e.g.
#
#	AIRLOCK_TEST_POSTGRES=$(bash scripts/ensure-postgres.sh) go test ./internal/store
#
# A server already answering on the port is reused as is. Otherwise, as
# root on Debian, it installs postgresql when initdb is missing, creates a
# throwaway cluster in $AIRLOCK_PG_DIR owned by the postgres user (tuned for
# speed, not durability: fsync, synchronous_commit and full_page_writes
# off), starts it in the background and adds the role airlock (password
# airlock, CREATEDB). Without root and without a server it stops with a
# message saying what to install. Messages go to stderr.
set -euo pipefail

port=${AIRLOCK_PG_PORT:-55432}
dir=${AIRLOCK_PG_DIR:-/tmp/airlock-pg}
dsn="postgres://airlock:airlock@127.0.0.1:${port}/postgres?sslmode=disable"

say() { echo "airlock: $*" >&2; }

# bindir is the newest installed server's bin directory, or empty.
bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then
		echo "$d"
	fi
}

answers() {
	local isready
	isready=$(command -v pg_isready || true)
	if [ -z "$isready" ]; then
		local b
		b=$(bindir)
		[ -n "$b" ] || return 1
		isready=$b/pg_isready
	fi
	"$isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1
}

if answers; then
	echo "$dsn"
	exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	say "no PostgreSQL answers on 127.0.0.1:$port and this script can only set one up as root on Debian."
	say "install PostgreSQL (Debian: apt-get install postgresql), start a server there with a role"
	say "airlock/airlock that may CREATE DATABASE, or set AIRLOCK_TEST_POSTGRES to a DSN of your own."
	exit 1
fi

# One setup at a time: two `make test` runs may start together.
exec 9>"$dir.lock"
flock -w 120 9 || { say "timed out waiting for $dir.lock"; exit 1; }
if answers; then
	echo "$dsn"
	exit 0
fi

bin=$(bindir)
if [ -z "$bin" ]; then
	say "installing postgresql from Debian's packages"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq postgresql >/dev/null 2>&1; then
		apt-get update -qq >/dev/null
		apt-get install -y -qq postgresql >/dev/null
	fi
	bin=$(bindir)
	if [ -z "$bin" ]; then
		say "postgresql is installed but no /usr/lib/postgresql/*/bin/initdb was found"
		exit 1
	fi
fi

data=$dir/data
log=$dir/postgres.log
# initdb and the server refuse to run as root: the cluster belongs to the
# postgres user the Debian package creates. 9>&- keeps the lock out of the
# server, which would otherwise hold it for its whole life.
as_pg() { runuser -u postgres -- "$@" 9>&-; }

if [ ! -s "$data/PG_VERSION" ]; then
	say "creating a test cluster in $data with $bin/initdb"
	rm -rf "$data"
	mkdir -p "$dir"
	chown postgres:postgres "$dir"
	chmod 700 "$dir"
	as_pg "$bin/initdb" -D "$data" -U postgres -E UTF8 --no-locale \
		--auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 || {
		say "initdb failed; its log follows"
		tail -n 30 "$dir/initdb.log" >&2
		exit 1
	}
	cat >>"$data/postgresql.conf" <<EOF

# airlock test cluster: loopback only, and fast rather than durable.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
fi

say "starting PostgreSQL on 127.0.0.1:$port (log: $log)"
# pg_ctl detaches the server (setsid), so it outlives this script and make.
as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 30 start >/dev/null || {
	say "PostgreSQL did not start; its log follows"
	tail -n 30 "$log" >&2
	exit 1
}
for _ in $(seq 1 60); do
	answers && break
	sleep 0.5
done
if ! answers; then
	say "PostgreSQL did not answer within 30s; its log follows"
	tail -n 30 "$log" >&2
	exit 1
fi

as_pg "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 >/dev/null <<'EOF'
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'airlock') THEN
		CREATE ROLE airlock LOGIN CREATEDB PASSWORD 'airlock';
	END IF;
END
$$;
EOF
say "PostgreSQL is up"
echo "$dsn"
