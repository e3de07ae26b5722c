//! The stylesheet, inline in every page (about 4 KB): no asset to fetch,
//! nothing to build. States differ by word and symbol first; colour and
//! border style only add to that, so the pages read in greyscale too.

pub const CSS: &str = r#"
:root{--fg:#1b1f24;--muted:#57606a;--bg:#fff;--card:#f6f8fa;--line:#d0d7de;--link:#0550ae;
--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--busy:#0969da;--focus:#bf3989}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#161b22;
--line:#3d444d;--link:#4493f8;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--busy:#58a6ff;--focus:#f778ba}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
a:focus-visible,button:focus-visible,input:focus-visible,summary:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--bg);padding:4px 8px}
header{border-bottom:1px solid var(--line);padding:8px 16px}
.crumbs{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px}
.crumbs li+li::before{content:"/";margin-right:4px;color:var(--muted)}
main{padding:8px 16px 32px;max-width:1400px;margin:0 auto}
h1{font-size:1.5rem;margin:12px 0 4px}h2{font-size:1.2rem;margin:24px 0 8px}h3{font-size:1.05rem;margin:16px 0 6px}
.meta,.where,.muted{color:var(--muted)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.92em}
.state{font-weight:600;white-space:nowrap}
.state-healthy{color:var(--ok)}.state-deploying{color:var(--busy)}.state-paused{color:var(--warn)}
.state-failed,.state-rolledback{color:var(--bad)}.state-interrupted{color:var(--warn)}.state-none{color:var(--muted);font-weight:400}
.cells{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:10px}
.cell{background:var(--card);border:1px solid var(--line);border-left:6px solid var(--line);border-radius:6px;padding:8px 10px}
.cell-healthy{border-left-color:var(--ok)}
.cell-deploying{border:2px dashed var(--busy);border-left:6px dashed var(--busy)}
.cell-paused{border:2px dashed var(--warn);border-left:6px dashed var(--warn)}
.cell-failed,.cell-rolledback{border:3px double var(--bad);border-left:8px double var(--bad)}
.cell-interrupted{border:2px dotted var(--warn);border-left:6px dotted var(--warn)}
.cell h4{margin:0;font-size:1rem}.cell .where{margin:0 0 4px;font-size:.85rem}
.cell dl,.facts{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:6px 0 0}
dt{color:var(--muted)}dd{margin:0;min-width:0;overflow-wrap:anywhere}
.message{margin:6px 0 0;font-size:.9rem;overflow-wrap:anywhere}
.attention{border:2px solid var(--bad);border-radius:6px;padding:4px 14px;margin:12px 0}
.attention h2{margin:8px 0 4px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600}td.num,th.num{text-align:right}
.steps{padding-left:1.6rem}.steps li{padding:2px 6px}
.steps .done{color:var(--muted)}.steps .current{font-weight:700;background:var(--card);border-left:4px solid var(--busy)}
.tag{font-size:.8rem;border:1px solid currentColor;border-radius:9px;padding:0 6px;margin-left:6px}
.bar{width:100%;max-width:420px;height:18px}.bar .canary{fill:var(--busy)}.bar .stable{fill:var(--line)}
.chart{width:100%;max-width:720px;height:auto;display:block}
.chart text{font-size:11px;fill:var(--muted)}.chart .axis line{stroke:var(--line)}
.chart .trend{fill:none;stroke:var(--muted);stroke-width:1}
.chart .threshold line{stroke-width:1.5;stroke-dasharray:6 4}.chart .success line{stroke:var(--ok)}.chart .failure line{stroke:var(--bad)}
.chart .point{stroke-width:2}.chart .successful circle{fill:var(--ok)}.chart .failed path{stroke:var(--bad);stroke-width:2.5}
.chart .inconclusive path{fill:var(--warn)}.chart .error rect{fill:var(--bad)}.chart .open{fill:none;stroke:var(--busy)}
figure{margin:8px 0 16px}figcaption{font-size:.9rem}
.actions{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}
.button,button{font:inherit;display:inline-block;padding:6px 14px;border-radius:6px;border:1px solid var(--line);
background:var(--card);color:var(--fg);text-decoration:none;cursor:pointer}
.button.danger,button.danger{border-color:var(--bad);color:var(--bad)}
.notice{border-left:4px solid var(--busy);background:var(--card);padding:6px 12px}
.error{border-left:4px solid var(--bad);background:var(--card);padding:6px 12px}
.live-state{font-size:.85rem;color:var(--muted)}
input[type=password]{font:inherit;padding:6px;border:1px solid var(--line);border-radius:6px;width:100%;max-width:24rem}
@media (max-width:40rem){main{padding:4px 10px 24px}
table.stack thead{display:none}table.stack tr{display:block;border-bottom:1px solid var(--line);padding:4px 0}
table.stack td{display:grid;grid-template-columns:9rem 1fr;border:0;padding:2px 4px}
table.stack td::before{content:attr(data-label);color:var(--muted)}}
"#;
