#!/usr/bin/env bash
# Mutation check of the suite's strengthened claims: each mutation breaks one promise in a scratch copy of
# HEAD (a detached git worktree sharing node_modules), runs the one test file that should catch it, and
# reports caught / missed. Exit 1 when any mutation is missed, or does not apply. Slow (a test file per
# mutation), so it is not part of `npm test`:   bash scripts/mutations.sh [name …]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
node_bin="$(cd "$root" && node -e "const b=require('./scripts/bootstrap'); process.stdout.write(require('node:path').dirname(b.findNodeRuntime()))")"
export PATH="$node_bin:$PATH"

# name | file | perl substitution (applied to the file; must change it) | test file that must fail
mutations=(
  "continue-as-new dropped|workflows/batch.ts|s/if \(next < total\) \{/if (false) {/|test/replay.test.ts"
  "audit tail not counted|client/audit.ts|s/rest\.count === records\.length/true/|test/governance.test.ts"
  "audit chain unkeyed|client/audit.ts|s/\(key \? createHmac\('sha256', key\) : createHash\('sha256'\)\)/createHash('sha256')/|test/audit-chain.test.ts"
  "redaction off for anthropic|providers/redaction.ts|s/return modelSetting \?\? environmentSetting \?\? redactedByDefault\[model\.provider\];/return model.provider === 'anthropic' ? false : (modelSetting ?? environmentSetting ?? redactedByDefault[model.provider]);/|test/redaction-wire.test.ts"
  "memo sent unencrypted|platform/codec.ts|s/(async encode\(payloads: Payload\[\]\): Promise<Payload\[\]> \{)/\$1\n    if (payloads.some((payload) => Buffer.from(payload.data ?? new Uint8Array()).toString().startsWith('{\"strategy\"'))) return payloads;/|test/codec.test.ts"
  "refusal records unbounded|domain/approvals.ts|s/export const MAX_RECORDED_REFUSALS = 40;/export const MAX_RECORDED_REFUSALS = 1_000_000;/|test/approval-desk-property.test.ts"
  "flagged input approved by timeout|domain/screening.ts|s/return onTimeout === 'approve' && !screening\?\.flagged \? 'approve' : 'reject';/return onTimeout === 'approve' ? 'approve' : 'reject';/|test/own-factory.test.ts"
  "shadow gate 0|workflows/distill.ts|s/agreement\.all\.agreement >= shadow\.agreementGate/agreement.all.agreement >= 0/|test/learning-live.test.ts"
)

selected=("$@")
scratch_root="$(mktemp -d -t conveyor-mutations-XXXXXX)"
trap 'git -C "$root" worktree prune >/dev/null 2>&1; rm -rf "$scratch_root"' EXIT
caught=0; missed=0; results=()
for index in "${!mutations[@]}"; do
  IFS='|' read -r name file substitution test_file <<<"${mutations[$index]}"
  if [ ${#selected[@]} -gt 0 ] && ! printf '%s\n' "${selected[@]}" | grep -qxF "$name"; then continue; fi
  dir="$scratch_root/m$index"
  git -C "$root" worktree add --detach -q "$dir" HEAD
  ln -s "$root/node_modules" "$dir/node_modules"
  [ -e "$root/../shared" ] && ln -sfn "$(realpath "$root/../shared")" "$scratch_root/shared"
  before="$(sha256sum "$dir/$file")"
  perl -0pi -e "$substitution" "$dir/$file"
  if [ "$before" = "$(sha256sum "$dir/$file")" ]; then
    results+=("NOT APPLIED  $name ($file)"); missed=$((missed + 1))
  else
    echo "mutations: $name → $test_file" >&2
    if (cd "$dir" && env CONVEYOR_SHARED_DATA="$(realpath "$root/../shared/data" 2>/dev/null || echo "$root/../shared/data")" \
        timeout 900 npx vitest run "$test_file" >"$scratch_root/m$index.log" 2>&1); then
      results+=("MISSED       $name ($test_file passed)"); missed=$((missed + 1))
      tail -n 15 "$scratch_root/m$index.log" >&2
    else
      results+=("caught       $name ($test_file)"); caught=$((caught + 1))
    fi
  fi
  git -C "$root" worktree remove --force "$dir"
done
printf '%s\n' "${results[@]}"
echo "$caught caught, $missed missed"
[ "$missed" -eq 0 ]
