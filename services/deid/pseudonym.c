/* placeholder: being written */
typedef int hg_placeholder_t;
