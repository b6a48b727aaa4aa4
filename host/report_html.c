/* cnas report: reading files whole, HTML escaping, numbers as the report shows them. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

char *rp_slurp(const char *path, size_t *len, bool drop_partial)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    if (!buf)
        return NULL;
    if (drop_partial && n > 0 && buf[n - 1] != '\n') {
        while (n > 0 && buf[n - 1] != '\n')
            n--;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Length of a valid UTF-8 sequence at s (at most avail bytes), 0 when invalid. */
static int utf8_len(const unsigned char *s, long avail)
{
    int k = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (s[0] >= 0xf5 || k == 0 || k > avail)
        return 0;
    for (int i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return k;
}

void rp_esc(FILE *f, const char *s, long n)
{
    if (!s)
        return;
    if (n < 0)
        n = (long)strlen(s);
    const unsigned char *p = (const unsigned char *)s;
    for (long i = 0; i < n; i++) {
        unsigned char c = p[i];
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            if (c < 0x20) {
                if (c == '\n' || c == '\t')
                    fputc(c, f);
            } else if (c < 0x80) {
                if (c != 0x7f)
                    fputc(c, f);
            } else {
                int k = utf8_len(p + i, n - i);
                if (k) {
                    fwrite(p + i, 1, (size_t)k, f);
                    i += k - 1;
                } else {
                    fputs("\xef\xbf\xbd", f); /* U+FFFD */
                }
            }
        }
    }
}

void rp_num(FILE *f, double v, int digits)
{
    if (!isfinite(v)) {
        fputs(isnan(v) ? "\xe2\x80\x93" : v > 0 ? "inf" : "-inf", f);
        return;
    }
    if (v == 0)
        v = 0; /* no "-0" */
    fprintf(f, "%.*g", digits, v);
}

bool rp_parse_num(const char *s, double *v)
{
    if (!s || !*s)
        return false;
    char *end;
    double x = strtod(s, &end);
    while (*end == ' ' || *end == '\r')
        end++;
    if (end == s || *end || !isfinite(x))
        return false;
    *v = x;
    return true;
}
