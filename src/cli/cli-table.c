/*
 * A small table printer: rows of strings, columns as wide as their widest
 * cell, two spaces between columns, no padding after the last one.  Cells
 * are copied (sanitized and cut to CLI_CELL_MAX), so callers may pass
 * temporaries.  Widths count bytes; names are expected to be mostly ASCII.
 */
#include "config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CLI_TABLE_COLS_MAX 16

struct cli_table {
	size_t ncols;
	size_t nrows; /* including the header */
	size_t cap_rows;
	char **cells; /* nrows * ncols, row-major */
};

struct cli_table *cli_table_create(size_t ncols, const char *const *header)
{
	struct cli_table *table;

	assert(ncols > 0 && ncols <= CLI_TABLE_COLS_MAX);
	table = calloc(1, sizeof *table);
	if (table == NULL)
		return NULL;
	table->ncols = ncols;
	if (cli_table_add_row(table, header) != 0) {
		cli_table_free(table);
		return NULL;
	}
	return table;
}

int cli_table_add_row(struct cli_table *table, const char *const *cells)
{
	char cell[CLI_CELL_MAX];
	size_t i, base;

	if (table->nrows == table->cap_rows) {
		size_t cap = table->cap_rows == 0 ? 16 : table->cap_rows * 2;
		char **grown = realloc(table->cells, cap * table->ncols * sizeof *grown);
		if (grown == NULL)
			return -1;
		table->cells = grown;
		table->cap_rows = cap;
	}
	base = table->nrows * table->ncols;
	for (i = 0; i < table->ncols; i++) {
		cli_sanitize(cell, sizeof cell, cells[i] != NULL ? cells[i] : "-");
		table->cells[base + i] = strdup(cell);
		if (table->cells[base + i] == NULL) {
			while (i-- > 0)
				free(table->cells[base + i]);
			return -1;
		}
	}
	table->nrows++;
	return 0;
}

void cli_table_print(const struct cli_table *table, FILE *out)
{
	size_t width[CLI_TABLE_COLS_MAX] = { 0 };
	size_t r, c;

	for (r = 0; r < table->nrows; r++) {
		for (c = 0; c < table->ncols; c++) {
			size_t len = strlen(table->cells[r * table->ncols + c]);
			if (len > width[c])
				width[c] = len;
		}
	}
	for (r = 0; r < table->nrows; r++) {
		for (c = 0; c < table->ncols; c++) {
			const char *cell = table->cells[r * table->ncols + c];
			if (c + 1 == table->ncols)
				fprintf(out, "%s\n", cell);
			else
				fprintf(out, "%-*s  ", (int)width[c], cell);
		}
	}
}

void cli_table_free(struct cli_table *table)
{
	size_t i;

	if (table == NULL)
		return;
	for (i = 0; i < table->nrows * table->ncols; i++)
		free(table->cells[i]);
	free(table->cells);
	free(table);
}
