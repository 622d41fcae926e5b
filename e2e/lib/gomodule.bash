# Sourced by the build scripts of e2e's separate Go modules (clients/, helm/,
# upstream/): each builds programs of its module into e2e/bin when they are
# missing or older than any file of the module.

# stale BIN MODULE_DIR: BIN is missing or a file under MODULE_DIR is newer.
stale() {
	[[ -x "$1" ]] || return 0
	[[ -n "$(find "$2" -type f -newer "$1" -print -quit)" ]]
}

# require_go WHO: Go must be installed.
require_go() {
	command -v go >/dev/null || { echo "$1: Go is required (https://go.dev/dl/)" >&2; exit 1; }
}

# lock_builds BIN_DIR NAME: one build of NAME at a time (parallel test
# binaries may call a script together), on a lock of its own so it never
# waits for another kind of build. Held until the script exits; whoever
# waited checks staleness again and finds the programs built.
lock_builds() {
	mkdir -p "$1"
	exec 9>"$1/.$2.build.lock"
	flock 9
}

# required_version GO_MOD MODULE: the version go.mod requires of MODULE.
required_version() {
	awk -v m="$2" '($1 == m) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$1"
}

# quiet_build MODULE_DIR BIN PACKAGE LDFLAGS: builds PACKAGE into BIN.
# Go's chatter ("go: downloading ...") is shown only when the build fails;
# success prints one "NAME: built in Ns" line on stderr.
quiet_build() {
	local t0=$SECONDS out
	if ! out="$(cd "$1" && go build -buildvcs=false -ldflags "$4" -o "$2.tmp" "$3" 2>&1)"; then
		printf '%s\n' "$out" >&2
		rm -f "$2.tmp"
		exit 1
	fi
	mv -f "$2.tmp" "$2"
	echo "$(basename "$2"): built in $((SECONDS - t0))s" >&2
}
