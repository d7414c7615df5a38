// Janus dashboard: small progressive enhancements. Every page works without this file; htmx and
// its SSE extension (vendor/) do the partial and live updates.
document.documentElement.classList.add("js");
