/* Command-line options (opts.h). */
#include "opts.h"

unsigned long strlen(const char *s);
int strncmp(const char *a, const char *b, unsigned long n);
int snprintf(char *buf, unsigned long size, const char *fmt, ...);
typedef unsigned long u64;
typedef unsigned char u8;
#define NULL ((void *)0)

u64 strtou(const char *s, const char **end) {
  u64 v = 0;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    for (s += 2;; s++) {
      char c = *s;
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) break;
      v = v * 16 + (u64)d;
    }
  } else {
    for (; *s >= '0' && *s <= '9'; s++) v = v * 10 + (u64)(*s - '0');
  }
  if (end) *end = s;
  return v;
}

/* the start of `word` as a whole space-separated word of opts (word may end in '='), or NULL */
static const char *find_word(const char *opts, const char *word) {
  u64 n = strlen(word);
  for (const char *p = opts; *p; p++) {
    if ((p == opts || p[-1] == ' ') && strncmp(p, word, n) == 0 &&
        (word[n - 1] == '=' || p[n] == 0 || p[n] == ' '))
      return p;
  }
  return NULL;
}

const char *opt_value(const char *opts, const char *key, char *buf, u64 size) {
  char k[32];
  snprintf(k, sizeof(k), "%s=", key);
  const char *p = find_word(opts, k);
  if (!p) return NULL;
  p += strlen(k);
  u64 n = 0;
  while (p[n] && p[n] != ' ' && n + 1 < size) { buf[n] = p[n]; n++; }
  buf[n] = 0;
  return buf;
}

int opt_word(const char *opts, const char *word) { return find_word(opts, word) != NULL; }
