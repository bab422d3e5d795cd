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

# axe-core, for the page's accessibility tests only (tests/test_page_a11y.py); not shipped in the package.
axe=../../tests/vendor/axe-core
rm -rf "$axe" && mkdir -p "$axe"
cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE node_modules/axe-core/LICENSE-3RD-PARTY.txt "$axe/"
version=$(node -p "require('./node_modules/axe-core/package.json').version")
{
  echo "axe-core $version (MPL-2.0), from the npm package axe-core@$version (pinned in web/frontend/package-lock.json)"
  echo "axe.min.js sha256: $(sha256sum "$axe/axe.min.js" | cut -d' ' -f1)"
  echo "Only the tests use it: tests/test_page_a11y.py runs it in the lesson page at WCAG 2.x A and AA."
} > "$axe/VERSION"
