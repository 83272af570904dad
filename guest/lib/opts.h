/*
 * Numbers and key=value words from a command line: shared by the mini host's kernel and VMM
 * (guest/host/) and the Linux VMM (linux/vmm/). Needs only strlen, strncmp and snprintf.
 */
#ifndef OPTS_H
#define OPTS_H
/* a decimal or 0x-hex number; *end (if end) is where it stopped */
unsigned long strtou(const char *s, const char **end);
/* the value of `key=` in a space-separated option string (copied into buf), or 0 (NULL) */
const char *opt_value(const char *opts, const char *key, char *buf, unsigned long size);
/* is `word` one of the space-separated words of opts? */
int opt_word(const char *opts, const char *word);
#endif
