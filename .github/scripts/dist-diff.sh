#!/usr/bin/env bash
# Write what a pull request changes in the committed manifests (dist/) to the job summary, so reviewers see
# every manifest change next to the code that caused it.
#
#   .github/scripts/dist-diff.sh BASE HEAD
#
# The diff runs from the merge base of BASE and HEAD to HEAD (`git diff BASE...HEAD`): the pull request's own
# changes, without whatever the base branch gained meanwhile. It compares the committed dist/, which is what
# `kubectl apply -f dist/...` deploys; a test fails while dist/ is stale against the sources, so a green pull
# request's dist/ is also what its sources synthesize.
#
# Output goes to $GITHUB_STEP_SUMMARY (stdout when unset). GitHub accepts at most 1 MiB of summary per step, so
# a longer diff is cut at DIST_DIFF_LIMIT bytes (default 900000) with a note saying so.
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 BASE HEAD" >&2
    exit 2
fi
base=$1
head=$2
summary=${GITHUB_STEP_SUMMARY:-/dev/stdout}
limit=${DIST_DIFF_LIMIT:-900000}

changes=$(git diff --no-color --stat=200 "$base...$head" -- dist/)
patch=$(mktemp)
trap 'rm -f "$patch"' EXIT
git diff --no-color "$base...$head" -- dist/ >"$patch"
size=$(wc -c <"$patch")

{
    echo "## Manifest changes (dist/)"
    echo
    if [ -z "$changes" ]; then
        echo "This pull request changes no manifest in dist/."
    else
        echo '```'
        echo "$changes"
        echo '```'
        echo
        echo '````diff'
        head -c "$limit" "$patch"
        echo
        echo '````'
        if [ "$size" -gt "$limit" ]; then
            echo
            echo "The diff is cut at $limit of $size bytes: run \`git diff $base...$head -- dist/\` for all of it."
        fi
    fi
} >>"$summary"
