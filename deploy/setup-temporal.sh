#!/bin/sh
# One-shot job for docker-compose.yml, run in the temporalio/admin-tools image once the server is
# up: creates the namespace if it is missing and registers Conveyor's custom search attributes
# (CONVEYOR_SEARCH_ATTRIBUTES: space-separated Name=Type pairs, Type as the Temporal CLI spells it;
# domain/search-attributes.ts is the source of truth and test/compose.test.ts keeps them equal).
# Idempotent: an attribute that already exists with the same type is left alone; one that exists
# with another type is an error, since Temporal cannot change an attribute's type.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required (host:port of the frontend)}"
: "${CONVEYOR_SEARCH_ATTRIBUTES:?CONVEYOR_SEARCH_ATTRIBUTES is required (Name=Type ...)}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-72h}"
MAX_ATTEMPTS="${SETUP_MAX_ATTEMPTS:-60}"
SLEEP_SECONDS="${SETUP_SLEEP_SECONDS:-2}"

# Runs "$@" until it succeeds, at most MAX_ATTEMPTS times; $1 names the step for the log.
retry() {
  what="$1"
  shift
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
      echo "Gave up: $what (after $attempt attempts)" >&2
      return 1
    fi
    echo "Not yet: $what (attempt $attempt/$MAX_ATTEMPTS)"
    attempt=$((attempt + 1))
    sleep "$SLEEP_SECONDS"
  done
}

# "Keyword", "KEYWORD", "INDEXED_VALUE_TYPE_KEYWORD" -> "keyword"; "KeywordList", "KEYWORD_LIST" -> "keywordlist".
normalize_type() {
  echo "$1" | sed 's/^INDEXED_VALUE_TYPE_//' | tr -d '_' | tr '[:upper:]' '[:lower:]'
}

retry "Temporal cluster health at $TEMPORAL_ADDRESS" \
  temporal operator cluster health --address "$TEMPORAL_ADDRESS"

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  echo "Namespace '$NAMESPACE' already exists"
else
  retry "create namespace '$NAMESPACE'" \
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" --address "$TEMPORAL_ADDRESS"
  echo "Namespace '$NAMESPACE' created (retention $RETENTION)"
fi

# A freshly created namespace takes a moment to reach every frontend cache.
retry "namespace '$NAMESPACE' visible" \
  temporal operator search-attribute list --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS"

for pair in $CONVEYOR_SEARCH_ATTRIBUTES; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if [ -z "$name" ] || [ "$name" = "$pair" ] || [ -z "$type" ]; then
    echo "Malformed entry '$pair' in CONVEYOR_SEARCH_ATTRIBUTES (expected Name=Type)" >&2
    exit 1
  fi
  existing=$(temporal operator search-attribute list --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS" |
    awk -v n="$name" '$1 == n { print $2 }')
  if [ -n "$existing" ]; then
    if [ "$(normalize_type "$existing")" != "$(normalize_type "$type")" ]; then
      echo "Search attribute $name exists as $existing, but Conveyor needs $type" >&2
      exit 1
    fi
    echo "Search attribute $name ($type) already registered"
    continue
  fi
  retry "register search attribute $name ($type)" \
    temporal operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$type" --address "$TEMPORAL_ADDRESS"
  echo "Search attribute $name ($type) registered"
done

echo "Namespace '$NAMESPACE' is ready for Conveyor"
