/* The configuration tree: dotted keys ("pci.0.3.0.device") holding string values.
 * Every command-line flag, -o and -k ends here; devices read only from here. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#define CONFIG_NAME_MAX	255	/* characters between two dots of a key */

void set_config_value(const char *path, const char *value);
void set_config_value_node(const char *node, const char *key, const char *value);
void set_config_bool(const char *path, bool value);
void unset_config_value(const char *path);
const char *get_config_value(const char *path);
const char *get_config_value_node(const char *node, const char *key);
bool config_node_exists(const char *node);
/* Returns -1 (and prints one line) when the value is not a boolean. */
int get_config_bool_default(const char *path, bool def, bool *out);
int get_config_bool_node_default(const char *node, const char *key, bool def, bool *out);
bool config_bool(const char *path, bool def);	/* for keys already validated */
/* Calls fn for each key directly under node, with its value ("pci.0.3.0" ->
 * "device", "path" ...); stops early when fn returns non-zero, and returns that. */
int config_foreach_key(const char *node, int (*fn)(const char *key, const char *value,
    void *arg), void *arg);
/* Calls fn for each direct child name of node ("pci.0" -> "3", ...); names
 * longer than CONFIG_NAME_MAX are left out, which config_check_names refuses
 * before anything is built. */
void config_foreach_child(const char *node, void (*fn)(const char *child, void *arg), void *arg);
/* "key=value" -> tree; returns -1 if there is no '='. */
int set_config_pair(const char *pair);
/* Reads a -k file: key=value lines, '#' comments; returns -1 with a message. */
int load_config_file(const char *path);
/* Every name between the dots of every key is at most CONFIG_NAME_MAX long;
 * -1 with one line naming the key otherwise. */
int config_check_names(void);
void dump_config(FILE *fp);
void free_config(void);

#endif
