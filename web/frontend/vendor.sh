#!/usr/bin/env bash
# Copy the pinned third-party files into the package (run after `npm ci`); the page loads them
# from the package, never from the network. Only the woff2 fonts are kept (every browser the page
# supports reads them), and the stylesheet is rewritten to name only those.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
out=../../src/backproplab/web/static/vendor/katex
rm -rf "$out" && mkdir -p "$out/fonts"
dist=node_modules/katex/dist
cp "$dist/katex.min.js" node_modules/katex/LICENSE "$out/"
cp "$dist"/fonts/*.woff2 "$out/fonts/"
sed -E 's/,url\([^)]*\.woff\) format\("woff"\)//g; s/,url\([^)]*\.ttf\) format\("truetype"\)//g' \
  "$dist/katex.min.css" > "$out/katex.min.css"
version=$(node -p "require('./node_modules/katex/package.json').version")
echo "KaTeX $version (MIT licence, see LICENSE), from the npm package katex@$version; copied by web/frontend/vendor.sh" \
  > "$out/VERSION"
