#!/usr/bin/env bash
# Install MathJax 3 locally so the book renders math offline.
#
# Copies the es5 build of npm's mathjax package to book/_mathjax/_static/mathjax/ (git-ignored).
# _config.yml lists book/_mathjax in html_extra_path, so the build serves it as _static/mathjax/.
# Idempotent: does nothing when MathJax is already there. Without it the book loads MathJax
# from its CDN (see book/_ext/book_html.py), so builds pass either way.
set -euo pipefail

version="${MATHJAX_VERSION:-3.2.2}"
dest="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/_mathjax/_static/mathjax"

if [[ -f "$dest/tex-mml-chtml.js" ]]; then
  echo "MathJax already installed in $dest"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "mathjax@$version" >/dev/null && tar -xzf mathjax-*.tgz)
mkdir -p "$(dirname "$dest")"
cp -r "$tmp/package/es5" "$dest"
echo "MathJax $version installed in $dest"
