/*
 * api-ui: the web dashboard at /ui/ (ui/index.html, app.js, style.css),
 * embedded in the binary at build time (Makefile.am turns the files into C
 * arrays with xxd -i: nothing is read from disk or fetched).  The page reads
 * the same GET endpoints as the CLI and follows /v1/events with EventSource;
 * it is served under a Content-Security-Policy of default-src 'self' (its
 * script is a file, never inline), behind the same Host/Origin checks as
 * every GET (api-auth.c).
 */
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "node.h"
#include "ui-assets.h"

static const struct api_ui_file {
	const char *path;
	const char *type;
	const unsigned char *data;
	const unsigned int *len;
} api_ui_files[] = {
	{ "/ui/", "text/html; charset=utf-8", ui_index_html, &ui_index_html_len },
	{ "/ui/index.html", "text/html; charset=utf-8", ui_index_html, &ui_index_html_len },
	{ "/ui/app.js", "text/javascript; charset=utf-8", ui_app_js, &ui_app_js_len },
	{ "/ui/style.css", "text/css; charset=utf-8", ui_style_css, &ui_style_css_len },
};

int api_ui_route(struct evhttp_request *req, const char *path)
{
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	enum evhttp_cmd_type method = evhttp_request_get_command(req);

	if (strcmp(path, "/ui") == 0) {
		evhttp_add_header(hdrs, "Location", "/ui/");
		evhttp_send_reply(req, 301, "Moved Permanently", NULL);
		return 1;
	}
	if (strncmp(path, "/ui/", 4) != 0)
		return 0;
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(hdrs, "Allow", "GET, HEAD");
		api_reply_error(req, 405, "Method Not Allowed", "method not allowed");
		return 1;
	}
	for (size_t i = 0; i < sizeof api_ui_files / sizeof api_ui_files[0]; i++) {
		const struct api_ui_file *f = &api_ui_files[i];

		if (strcmp(path, f->path) != 0)
			continue;
		evhttp_add_header(hdrs, "Content-Type", f->type);
		evhttp_add_header(hdrs, "Content-Security-Policy",
		                  "default-src 'self'; frame-ancestors 'none'");
		evhttp_add_header(hdrs, "X-Content-Type-Options", "nosniff");
		evhttp_add_header(hdrs, "Cache-Control", "no-cache");
		if (evbuffer_add_reference(evhttp_request_get_output_buffer(req), f->data, *f->len,
		                           NULL, NULL) != 0) {
			evhttp_send_error(req, HTTP_INTERNAL, NULL);
			return 1;
		}
		evhttp_send_reply(req, HTTP_OK, "OK", NULL);
		return 1;
	}
	api_reply_error(req, HTTP_NOTFOUND, "Not Found", "not found");
	return 1;
}
