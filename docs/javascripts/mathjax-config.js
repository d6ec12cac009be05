// MathJax 3 for the avcourse site. MathJax itself is served from this site
// (javascripts/mathjax/, copied from the django-static-mathjax package at build
// time by tools/docs_hooks.py): no CDN, and its fonts come from the same folder.
//
// Math is typeset only where it is meant to be:
// - Markdown pages and docstrings: pymdownx.arithmatex (generic) wraps $…$ and
//   $$…$$ as <span class="arithmatex">\(…\)</span> / <div class="arithmatex">\[…\]</div>;
// - notebook pages: nbconvert keeps the notebooks' $…$ and $$…$$ as written in
//   the Markdown cells (.jp-RenderedMarkdown) and LaTeX outputs (.jp-RenderedLatex);
// - tables of contents and navigation (.md-nav__link): a heading with math
//   ("The stiffness $\beta$") keeps its math there.
// Elsewhere a dollar sign is just a dollar sign.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "ams",
    // An undefined macro is a TeX error (shown as such, and caught by
    // tools/site_check.py), not silently printed in red.
    packages: {"[-]": ["noundefined"]},
  },
  options: {
    ignoreHtmlClass: "tex2jax_ignore",
    processHtmlClass: "tex2jax_process",
  },
  startup: {
    elements: [".arithmatex", ".jp-RenderedMarkdown", ".jp-RenderedLatex", ".md-nav__link"],
  },
};

// With navigation.instant, Material swaps the page content without reloading:
// typeset the new content (the first page is typeset by MathJax's startup).
if (typeof document$ !== "undefined") {
  let first = true;
  document$.subscribe(() => {
    if (first) {
      first = false;
      return;
    }
    if (!MathJax.typesetPromise) return;
    MathJax.startup.output.clearCache();
    MathJax.typesetClear();
    MathJax.texReset();
    MathJax.typesetPromise(MathJax.config.startup.elements);
  });
}
