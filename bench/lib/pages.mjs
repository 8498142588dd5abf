// Page generators. Every page is served on the cobrowse server's own origin (playwright routing of
// `/bench/...`, or of `/demo/...` with the tag rewritten), so our loader comes from the server URL and
// finds its wasm, and every engine sees the very same DOM.

/** The script tag of our engine (the `glance` variants only); `slicems` for the unsliced run. */
export function loaderTag(base, { slicems = null } = {}) {
  return `<script id="glance-cobrowse" src="${base}/cobrowse/GlanceCobrowseLoader.js" data-groupid="1234" ` +
    `data-site="staging"${slicems ? ` data-slicems="${slicems}"` : ''}></script>`;
}

/** Nodes outside the table: doctype, html, head, meta, title+text, style+text, body, h1+text, table,
 * tbody, script+text. One table row is tr + 4 td + 4 text nodes = 9 nodes. */
const TABLE_OVERHEAD = 15;

/** A page of about `nodes` DOM nodes (all node types), most of them in one big table, built by an
 * inline script while the page parses (deterministic; same DOM as parsing static HTML). */
export function tablePage(nodes, tag = '') {
  const rows = Math.max(1, Math.round((nodes - TABLE_OVERHEAD) / 9));
  return '<!doctype html><html><head><meta charset="utf-8"><title>table ' + nodes + '</title>' +
    '<style>td{padding:1px 4px}.p{text-align:right}</style></head><body><h1>Orders</h1>' +
    '<table id="big"><tbody></tbody></table><script>(function(){var p=[];for(var i=0;i<' + rows + ';i++){' +
    'p.push(\'<tr class="r\'+(i%7)+\'"><td>\'+i+\'</td><td>Item number \'+i+\'</td><td class="p">$\'+(i*1.37).toFixed(2)+' +
    '\'</td><td>descr \'+(i%97)+\'</td></tr>\');}document.querySelector("#big tbody").innerHTML=p.join("");})();</script>' +
    tag + '</body></html>';
}

/** The mutation fixture: 10,000 `<div class="i">` items each with one text node, below the fold,
 * and an empty container at the top. Not `<ul><li>`: moving list items makes Chromium renumber the
 * list on every move, quadratic work that would swamp every recorder's cost. The list is
 * `content-visibility: auto` below a tall spacer (as long off-screen lists on real pages are), so
 * its changes cost the page no rendering: otherwise rewriting 10,000 texts per frame keeps the main
 * thread saturated with the page's own work, with or without a recorder, and the churn would
 * measure nothing but that. */
export function mutationPage(tag = '') {
  return '<!doctype html><html><head><meta charset="utf-8"><title>mutations</title>' +
    '<style>.i{font:12px sans-serif}#list{content-visibility:auto;contain-intrinsic-size:auto 150000px}' +
    '.card{display:inline-block;margin:1px}#spacer{height:3000px}</style></head><body>' +
    '<h1>Mutations</h1><div id="add"></div><div id="spacer"></div><div id="list"></div><script>(function(){var p=[];' +
    'for(var i=0;i<10000;i++)p.push(\'<div class="i">item \'+i+\'</div>\');document.getElementById("list").innerHTML=p.join("");})();</script>' +
    tag + '</body></html>';
}

const TAG_RE = /<script\b[^>]*\bid=["']glance-cobrowse["'][^>]*>\s*<\/script>/i;

/** A demo-site page with our tag removed (peers, floors) or with the tag made absolute (ours). */
export function rewriteDemo(html, base, tag) {
  if (!TAG_RE.test(html)) throw new Error('demo page has no <script id="glance-cobrowse"> tag');
  return html.replace(TAG_RE, tag);
}
