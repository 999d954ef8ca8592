#!/usr/bin/env bash
# The code's references to the documentation in doc/ resolve: every "doc/<file>.md" named in
# src/, cli/, tools/, tests/, include/, the Makefile, mk/ and README.md exists, and every
# "doc/<file>.md#<anchor>" names a heading of that file; the links between the documents
# resolve the same way; and no comment cites a document outside the repository (the shared
# reference documents the docs replace, or their section signs).
#
# An anchor is GitHub's: the heading text in lower case, every character other than a-z, 0-9,
# space, "-" and "_" dropped, spaces turned into "-". Headings must be ASCII and their anchors
# unique within a file, so that an anchor names exactly one heading.
#
# Prints "ok   docs: ..." / "FAIL docs: ..." (tests/run.sh counts them).
# Environment: DOC_REFS_ROOT (default .), the tree to check.
cd "${DOC_REFS_ROOT:-.}" || exit 1

ok()   { echo "ok   docs: $1"; }
fail() { echo "FAIL docs: $1"; shift; for l in "$@"; do echo "    $l"; done; }

CODE=(src cli tools tests include Makefile mk README.md)
GREP_CODE=(grep -rnI --exclude-dir=fixtures)

# anchors FILE: the anchor of every heading outside fenced code blocks, one per line.
anchors() {
  awk '
    /^(```|~~~)/ { fence = !fence; next }
    fence { next }
    /^#+ / && match($0, /^#+/) && RLENGTH <= 6 {
      t = $0; sub(/^#+ +/, "", t); sub(/ +#* *$/, "", t)
      t = tolower(t); gsub(/[^a-z0-9 _-]/, "", t); gsub(/ /, "-", t)
      print t
    }' "$1"
}

# 1. headings: ASCII, unique anchors
bad=()
for f in doc/*.md; do
  while IFS= read -r line; do bad+=("$f: non-ASCII heading: $line"); done < <(
    awk '/^(```|~~~)/ { fence = !fence; next } !fence && /^#+ / && match($0, /^#+/) && RLENGTH <= 6 { print }' "$f" |
      LC_ALL=C grep -n '[^ -~]')
  while IFS= read -r a; do bad+=("$f: two headings have the anchor #$a"); done < <(anchors "$f" | sort | uniq -d)
done
if [ ${#bad[@]} -eq 0 ]; then ok "headings in doc/ are ASCII with unique anchors"
else fail "headings in doc/ must be ASCII with unique anchors" "${bad[@]}"; fi

# resolve WHERE FILE ANCHOR: empty if FILE exists and has ANCHOR (or no anchor is given),
# else the problem.
resolve() {
  local where=$1 file=$2 anchor=$3
  if [ ! -f "$file" ]; then echo "$where: $file does not exist"; return; fi
  if [ -n "$anchor" ] && ! anchors "$file" | grep -qxF -- "$anchor"; then
    echo "$where: $file has no heading with the anchor #$anchor"
  fi
}

# 2. references in the code
bad=()
n=0
while IFS= read -r hit; do
  where=${hit%:*}            # path:line
  ref=${hit##*:}             # doc/<file>.md or doc/<file>.md#<anchor>
  file=${ref%%#*}
  anchor=""
  [ "$file" != "$ref" ] && anchor=${ref#*#}
  n=$((n + 1))
  problem=$(resolve "$where" "$file" "$anchor")
  [ -n "$problem" ] && bad+=("$problem")
done < <("${GREP_CODE[@]}" -oE 'doc/[A-Za-z0-9_.-]+\.md(#[A-Za-z0-9_-]+)?' "${CODE[@]}" 2>/dev/null)
if [ "$n" -eq 0 ]; then fail "no references to doc/ found in the code (is this the project root?)"
elif [ ${#bad[@]} -eq 0 ]; then ok "all $n references to doc/ in the code name an existing file and heading"
else fail "references to doc/ that do not resolve" "${bad[@]}"; fi

# 3. links between the documents: [text](<file>.md#<anchor>), [text](#<anchor>), other
#    relative paths must exist
bad=()
n=0
for f in doc/*.md; do
  while IFS= read -r hit; do
    line=${hit%%:*}
    target=${hit#*:}; target=${target#\]\(}; target=${target%\)}
    case $target in http://*|https://*|mailto:*) continue ;; esac
    n=$((n + 1))
    path=${target%%#*}
    anchor=""
    [ "$path" != "$target" ] && anchor=${target#*#}
    if [ -z "$path" ]; then file=$f; else file=doc/$path; fi
    file=$(realpath -m --relative-to=. "$file")
    problem=$(resolve "$f:$line" "$file" "$anchor")
    [ -n "$problem" ] && bad+=("$problem")
  done < <(grep -noE '\]\([^) ]+\)' "$f")
done
if [ ${#bad[@]} -eq 0 ]; then ok "all $n links between the documents in doc/ resolve"
else fail "links in doc/ that do not resolve" "${bad[@]}"; fi

# 4. nothing cites the shared reference documents, which a clone does not have
old="ARCHITEC""TURES\.md|GGUF_AND_""QUANTS|"$'\xc2\xa7'
bad=()
while IFS= read -r hit; do bad+=("$hit"); done < <("${GREP_CODE[@]}" -E "$old" "${CODE[@]}" 2>/dev/null)
if [ ${#bad[@]} -eq 0 ]; then ok "no reference to documents outside the repository"
else fail "references to documents outside the repository (cite doc/ instead)" "${bad[@]}"; fi
