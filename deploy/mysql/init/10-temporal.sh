#!/bin/bash
# Temporal's own user and databases, apart from durapay's (which MYSQL_DATABASE/MYSQL_USER create).
# The mysql image runs this once, on an empty data volume: changing the password later needs ALTER USER.
# It may be sourced by the image's entrypoint, so no `set -u` (it would leak into the entrypoint).
set -eo pipefail

if [ -z "${TEMPORAL_DB_PASSWORD:-}" ]; then
  echo "10-temporal.sh: TEMPORAL_DB_PASSWORD is not set" >&2
  exit 1
fi

# Quote a value as a MySQL string literal.
sql_string() {
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\'\'}"
}
temporal_user=$(sql_string "${TEMPORAL_DB_USER:-temporal}")
temporal_password=$(sql_string "$TEMPORAL_DB_PASSWORD")

# During initialisation the server listens on its socket only.
mysql --defaults-extra-file=<(printf '[client]\npassword="%s"\n' "$MYSQL_ROOT_PASSWORD") \
  --protocol=socket --socket="${SOCKET:-/var/run/mysqld/mysqld.sock}" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS \`temporal\`;
CREATE DATABASE IF NOT EXISTS \`temporal_visibility\`;
CREATE USER IF NOT EXISTS ${temporal_user}@'%' IDENTIFIED BY ${temporal_password};
GRANT ALL PRIVILEGES ON \`temporal\`.* TO ${temporal_user}@'%';
GRANT ALL PRIVILEGES ON \`temporal_visibility\`.* TO ${temporal_user}@'%';
SQL
echo "10-temporal.sh: created databases temporal, temporal_visibility and their user"
