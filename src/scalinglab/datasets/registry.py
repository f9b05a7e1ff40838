"""The registry of public scaling data sets: where each file comes from and what its columns mean.

One :class:`Dataset` per folder of published data (``epoch_chinchilla``, ``porian2024``, ...), each
with one or more :class:`Table` files. For every file the registry records its SHA-256 (of the exact
bytes scalinglab expects, computed from the published copies; the downloader verifies it), its size
in bytes, its path in the source repository at the recorded commit (``None`` for files derived by
flattening the authors' data, which have no single public file), and for tables of training runs the
mapping of its columns onto scalinglab's canonical columns (params [count], tokens [count], flops
[FLOPs], loss [nats/token], step [optimizer steps], budget [FLOPs], group, run; see
:mod:`scalinglab.io`) together with the params convention (embeddings counted or not).

Facts here come from each data set's README (repository, commit, paths, licence, units) and the CSV
headers. Nothing is guessed: an unknown repository path or commit is ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

__all__ = ["REGISTRY", "Citation", "Dataset", "Table"]

#: canonical run columns a mapping may name (scalinglab.io.CANONICAL + OPTIONAL) and extra law
#: variables copied under their own name (unique_tokens: Muennighoff et al. 2023's U_D, a token count)
RUN_COLUMNS: tuple[str, ...] = ("params", "tokens", "flops", "loss", "step", "budget", "group", "run")
EXTRA_COLUMNS: tuple[str, ...] = ("unique_tokens",)


@dataclass(frozen=True)
class Citation:
    """A paper: authors, year, title, venue (with its arXiv id where there is one)."""

    authors: str
    year: int
    title: str
    venue: str

    def __str__(self) -> str:
        return f"{self.authors} ({self.year}). {self.title}. {self.venue}."


@dataclass(frozen=True)
class Table:
    """One file of a data set.

    ``columns`` maps canonical names (``RUN_COLUMNS``, plus ``unique_tokens``) to source columns; a
    tuple of columns means their values joined with "/" (a label such as a configuration). ``None``
    means the file is not a table of runs (``load`` gives it raw; ``load_runs`` refuses it).
    ``rows`` is the number of data rows ``load`` returns (``None`` for JSON). ``header_rows`` = 2
    means a two-row header, flattened to "top sub" names. ``url``, when set, replaces the raw
    GitHub URL built from the repository, commit and ``source_path``.
    """

    name: str
    file: str
    sha256: str
    size: int
    rows: int | None
    description: str
    source_path: str | None
    columns: dict[str, str | tuple[str, ...]] | None = field(default=None, hash=False)
    params_convention: str | None = None
    derived_from: str | None = None
    header_rows: int = 1
    url: str | None = None
    #: canonical names computed as one source column divided by another, e.g. unique tokens
    #: = tokens seen / epochs where the file has no such column
    ratios: dict[str, tuple[str, str]] | None = field(default=None, hash=False)

    @property
    def format(self) -> str:
        """``"json"`` or ``"csv"``, from the file name."""
        return "json" if self.file.endswith(".json") else "csv"

    @property
    def is_runs(self) -> bool:
        """Whether the table maps onto runs (``load_runs`` accepts it)."""
        return self.columns is not None


@dataclass(frozen=True)
class Dataset:
    """A published data set: its citation, source repository at a commit, licence and tables."""

    name: str
    description: str
    citation: Citation
    repository: str | None
    commit: str | None
    licence: str
    tables: tuple[Table, ...]
    default: str
    also_cite: tuple[Citation, ...] = ()

    def table(self, name: str | None = None) -> Table | None:
        """The table called ``name`` (or whose file is ``name``), the default one for ``None``."""
        wanted = self.default if name is None else name
        for t in self.tables:
            if wanted in (t.name, t.file):
                return t
        return None

    def raw_url(self, table: Table) -> str | None:
        """Download URL of ``table``: its ``url``, else the raw GitHub URL at the commit, else None."""
        if table.url is not None:
            return table.url
        if not (self.repository and self.commit and table.source_path):
            return None
        owner_repo = self.repository.removeprefix("https://github.com/").strip("/")
        return f"https://raw.githubusercontent.com/{owner_repo}/{self.commit}/{quote(table.source_path, safe='/:')}"

    def source(self, table: Table) -> str:
        """Where ``table`` comes from, in words ("unknown" for what the README does not give)."""
        repo = self.repository or "unknown repository"
        commit = self.commit or "unknown"
        if table.source_path and self.repository and self.commit:
            return f"{self.repository}/blob/{self.commit}/{quote(table.source_path, safe='/:')}"
        path = table.source_path or f"unknown (derived from {table.derived_from or 'the source'})"
        return f"{repo} at commit {commit}, path {path}"


# ----------------------------------------------------------------------------------------- entries

_EPOCH = Dataset(
    name="epoch_chinchilla",
    description="Hoffmann et al. 2022 Fig. 4 training runs (N, C, final loss) digitised from the SVG by "
                "Epoch AI; Besiroglu et al. 2024 fit the 240 rows left after dropping the 5 highest losses",
    citation=Citation("T. Besiroglu, E. Erdil, M. Barnett, J. You", 2024, "Chinchilla Scaling: A replication attempt",
                      "arXiv:2404.10102"),
    also_cite=(Citation("J. Hoffmann et al.", 2022, "Training Compute-Optimal Large Language Models",
                        "arXiv:2203.15556 (NeurIPS 2022)"),),
    repository="https://github.com/epoch-research/analyzing-chinchilla",
    commit="92258837425e1b5f2851d624287f0120583a3d0e",
    licence="none stated (no LICENSE file); a digitisation of a published figure, cite both papers",
    default="svg_extracted_data",
    tables=(
        Table("svg_extracted_data", "svg_extracted_data.csv",
              "193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30", 23224, 245,
              "245 runs: 'Model Size' N [parameters], 'Training FLOP' C [FLOP], loss [nats/token, MassiveText, "
              "decoded from marker colour, step up to ~0.015]; tokens D = C/(6N) as Epoch does",
              "data/svg_extracted_data.csv",
              columns={"params": "Model Size", "flops": "Training FLOP", "loss": "loss"},
              params_convention="with embeddings (Hoffmann et al. 2022 count embedding parameters; the digitised "
                                "figure itself does not say)"),
    ),
)

_PORIAN_CFG = ("dataset", "hparams", "warmup", "decay", "param_count", "loss_split")
_PORIAN_DERIVED = ("data/summary_df.pickle.xz, data/summary_df_att.pickle.xz, "
                   "data/summary_df_kaplan_tuned_hparams.pickle.xz and data/summary_df_owt2.pickle.xz, flattened to CSV")
_PORIAN = Dataset(
    name="porian2024",
    description="Porian et al. 2024 IsoFLOP sweeps for 15 configurations (RefinedWeb, OpenWebText2): points, "
                "per-budget optima and fitted exponents",
    citation=Citation("T. Porian, M. Wortsman, J. Jitsev, L. Schmidt, Y. Carmon", 2024,
                      "Resolving Discrepancies in Compute-Optimal Scaling of Language Models",
                      "NeurIPS 2024, arXiv:2406.19146"),
    repository="https://github.com/formll/resolving-scaling-law-discrepancies",
    commit="0dc60d91b8a525858a3067fc9e4a46ff5374cc6f",
    licence="MIT",
    default="isoflop_points",
    tables=(
        Table("isoflop_points", "isoflop_points.csv",
              "6b8bd8e1bb87691499bdbc8041cffba69ee61ee2e4a7dc6d9e3a4e2656fd5ecb", 239939, 1745,
              "every IsoFLOP point: flops_budget C [FLOP, 1.25e16..2.56e19], n_params N [parameters], tokens D "
              "[tokens] = C / (FLOPs per token of N), loss [nats/token, smoothed]; group = the configuration label",
              None, derived_from=_PORIAN_DERIVED,
              columns={"params": "n_params", "tokens": "tokens", "flops": "flops_budget",
                       "budget": "flops_budget", "loss": "loss", "group": "label"},
              params_convention="per configuration (column param_count): kaplan = without embeddings; standard = "
                                "without the input embedding, with the output layer; attention = standard plus "
                                "attention FLOPs (C = 6ND holds exactly in every row, so N = FLOPs per token / 6)"),
        Table("compute_optimal_pairs", "compute_optimal_pairs.csv",
              "918a5db2f24471665cd3ffddaba1b98afa5ccaa953e74d39c76a19f4e0ec365e", 42855, 177,
              "per-budget optimum n_star [parameters], t_star [tokens], loss_star [nats/token] at flops_budget "
              "[FLOP], with bootstrap log-std; optima, not runs", None, derived_from=_PORIAN_DERIVED),
        Table("published_fits", "published_fits.csv",
              "b44afe4a6fee2eda2af7f66d946c3cd5a0b122bab03431a1377e340b35fc5891", 9733, 15,
              "the authors' fitted exponents per configuration (a in N* ~ C^a with 95% CI; basic_* and weighted_* "
              "fit dictionaries; ignore the weighted_* loss fit)", None, derived_from=_PORIAN_DERIVED),
    ),
)

_LI_COLUMNS = {"params": "N", "tokens": "D", "flops": "C", "loss": "loss"}
_LI_PARAMS = "with embeddings (N, 57M-1.18B); N_no_emb is without (12M-1B)"
_LI = Dataset(
    name="li2025_misfitting",
    description="Li et al. 2025 open_lm sweep (12M-1B non-embedding parameters, several peak LRs per size), C4 "
                "eval loss at every checkpoint and at the last one",
    citation=Citation("M. Li, S. Kudugunta, L. Zettlemoyer", 2025, "(Mis)Fitting: A Survey of Scaling Laws",
                      "ICLR 2025, arXiv:2502.18969"),
    repository="https://github.com/hadasah/scaling_laws",
    commit="1f3708c0a12df0effb0ee906b1da5f9f0ff4f4f1",
    licence="none stated (no LICENSE file)",
    default="scaling_results_last_ckpt_only",
    tables=(
        Table("scaling_results_last_ckpt_only", "scaling_results_last_ckpt_only.csv",
              "cd96b9eb8e5b2adc80e6739a642dd8554590edc96234d36859ab6ed0f5c30562", 58697, 261,
              "final checkpoint of each run: N [parameters], D [tokens], C [FLOP, authors' count], loss "
              "[nats/token, C4 eval]; several runs per (N, D) differ in peak_lr (take the best LR first)",
              "data/scaling_results_last_ckpt_only.csv", columns=dict(_LI_COLUMNS), params_convention=_LI_PARAMS),
        Table("scaling_results", "scaling_results.csv",
              "193b4b7665365112605417e2ef06d55efe599cfa08412354e3ae42c3af7a9f58", 1133268, 4852,
              "every checkpoint: as the last-checkpoint table, D = tokens seen so far, step = current_steps "
              "[optimizer steps]; no column identifies a run uniquely",
              "data/scaling_results.csv", columns={**_LI_COLUMNS, "step": "current_steps"},
              params_convention=_LI_PARAMS),
        Table("authors_fit_output_form_C_vs_N", "authors_fit_output_form_C_vs_N.json",
              "ddb360a604613bba699ef511a39eb44fc57f4e80c96e88b07dd40c2e90c89dd9", 4016, None,
              "the authors' stored 'Hoffmann Form' fit (log-parametrised [a, b, e, alpha, beta]) and predicted "
              "compute-optimal curve; which rows it was fit on is undocumented (unverified)",
              "open_lm/misfitting/scripts/figures/1b/2025-02-17-22:00:43/analysis_form_misfitting_new_final_C_vs_N.json"),
        Table("authors_fit_output_form_C_vs_N_full", "authors_fit_output_form_C_vs_N_full.json",
              "49c1f83a156553c1f265f0afb4fc442c6de07773abad7a8a744aa0b5c90b6180", 7976, None,
              "the same fit output with more fields (unverified)",
              "open_lm/misfitting/scripts/figures/1b/2025-02-17-22:00:43/"
              "analysis_form_misfitting_new_final_C_vs_N_full.json"),
    ),
)

_GADRE = Dataset(
    name="gadre2024_overtraining",
    description="Gadre et al. 2024 over-training testbed: 104 open_lm models (11M-6.9B, 5-640 tokens/param, "
                "C4 / RedPajama / RefinedWeb) x 8 validation losses",
    citation=Citation("S. Y. Gadre et al.", 2024,
                      "Language models scale reliably with over-training and on downstream tasks", "arXiv:2403.08540"),
    repository="https://github.com/mlfoundations/scaling",
    commit="a003c4913793ac2ae7ef87b28ecb562955d026d5",
    licence="MIT",
    default="model_losses",
    tables=(
        Table("model_losses", "model_losses.csv",
              "4f760c5406ce3537bf1315607a82319f24dc4fe60689f04db2b1a8ddf0195bdb", 259053, 832,
              "one row per (model, val_set): params [parameters], train_tokens [tokens], flops_6ND [FLOP], val_loss "
              "[nats/token] with 95% bounds; group = train_dataset/val_set (the paper's main val set is c4_val)",
              None, derived_from="exp_data/models/*.json, 104 per-model JSONs flattened to CSV, no values changed",
              columns={"params": "params", "tokens": "train_tokens", "flops": "flops_6ND", "loss": "val_loss",
                       "group": ("train_dataset", "val_set")},
              params_convention="with embeddings (params); params_no_embed is without"),
        Table("eval_metadata", "eval_metadata.csv",
              "8cd5243244a6890c8cec31cf7752901131f1da479b3c4920e37eb65ad608089c", 16293, 51,
              "downstream task descriptions and random baselines", "exp_data/eval_metadata.csv"),
    ),
)

_CHOSHEN = Dataset(
    name="choshen2024_colpret",
    description="Subset of the Hitchhiker's Guide collection (IBM ColPret): OPT, GPT-3 curves, OLMo, Pile-T5, "
                "datablations (data-constrained), over-training testbed, Revisiting-scaling benchmark, LLM table",
    citation=Citation("L. Choshen, Y. Zhang, J. Andreas", 2025, "A Hitchhiker's Guide to Scaling Law Estimation",
                      "ICML 2025 (PMLR 267:10683-10699), arXiv:2410.11840"),
    also_cite=(Citation("N. Muennighoff et al.", 2023, "Scaling Data-Constrained Language Models",
                        "NeurIPS 2023, arXiv:2305.16264"),),
    repository="https://github.com/IBM/ColPret",
    commit="16f23bbe054277ddc4afd07a972dd7cfbe3f48c3",
    licence="MIT (collection; underlying numbers come from the cited papers)",
    default="datablations_contour_losses",
    tables=(
        Table("datablations_contour_losses", "datablations_contour_losses.csv",
              "1241bdf3732b4f65d455c796951dce7b18b898d64709f86013914573035f8a5b", 41569, 229,
              "Muennighoff et al. 2023 final losses behind the data-constrained contours: num_params N [parameters, "
              "7.1M-8.7B], token_num D [tokens], flops [FLOP = 6ND], openLM_loss [nats/token], epochs; unique "
              "tokens U_D = token_num / epochs (as unique_tokens; the file's tokens_per_epoch is a constant "
              "1.5e9 that does not match its rows)",
              "aggregated_eval/datablations_contour_losses.csv",
              columns={"params": "num_params", "tokens": "token_num", "flops": "flops", "loss": "openLM_loss"},
              ratios={"unique_tokens": ("token_num", "epochs")},
              params_convention="as given by the source (the README does not say whether embeddings count)"),
        Table("overtrain__overtrain_downstreams", "overtrain__overtrain_downstreams.csv",
              "689a4027953463771916b443713ed793e7af3623eafb52bc8c9bc0f5f0d8029d", 147561, 104,
              "Gadre et al. 2024 testbed, one row per model: N [parameters], D [tokens], flops [FLOP], loss_* on 8 "
              "val sets [nats/token] (loss_c4_val as loss), err_* downstream errors; group = dataset_name",
              "raw_data/overtrain/overtrain_downstreams.csv",
              columns={"params": "N", "tokens": "D", "flops": "flops", "loss": "loss_c4_val",
                       "group": "dataset_name", "run": "name"},
              params_convention="with embeddings (same N as gadre2024_overtraining params)"),
        Table("datablations_losses", "datablations_losses.csv",
              "b3c448c2cd1a17128e06ee3120a9c377c4e2bf649e09b2446db59f98ef957b48", 1771976, 9261,
              "Muennighoff et al. 2023 learning curves of repeated-data runs: token_num [tokens seen], loss "
              "[nats/token], epochs, num_params as labels (2.8B/4.2B/8.7B); the flops column is wrong (use 6*N*D)",
              "aggregated_eval/datablations_losses.csv"),
        Table("datablations_code_losses", "datablations_code_losses.csv",
              "6e93a1d6842c0699f0492450e433733f706f3c7db6a4385d4c571f6b4aaf257e", 50004, 296,
              "Muennighoff et al. 2023 code-mixing runs: 'epochs' is the percent of Python code (10-90), Seed 1 = "
              "general loss, 2 = code loss [nats/token]", "aggregated_eval/datablations_code_losses.csv"),
        Table("opt_trajectories", "opt_trajectories.csv",
              "c3a53ccc7a412f0caff4179ce484acf1c2aab36b25677473658f094362449ff5", 10044, 142,
              "OPT 125M-175B validation perplexity during training (Xia et al. 2023): num_token = log10(tokens), "
              "flops = log10(FLOP), ppl", "aggregated_eval/opt_trajectories.csv"),
        Table("opt", "opt.csv", "adff9b18349c5f337c9757cc0d7ec562c36b74546d14ab035aee5d35f2c9775a", 20699, 147,
              "OPT checkpoints on 6 BIG-bench tasks: steps, flops [FLOP], tokens, scores in %", "aggregated_eval/opt.csv"),
        Table("gpt3__extracted", "gpt3__extracted.csv",
              "ea73b550de60d8b278523fa69385df0c2892546f8820aea12b4d1fe2d4f98962", 372718, 12097,
              "GPT-3 learning curves digitised from Brown et al. 2020: model label, step = tokens in billions, "
              "train_loss / val_loss [nats/token]", "raw_data/gpt3/extracted.csv"),
        Table("gpt3__gpt3_metadata", "gpt3__gpt3_metadata.csv",
              "1d568347f04e7bbc84b2191198f06b1adabf589d4fe39bfc39bd25543bd2f5ef", 463, 8,
              "GPT-3 Table 2.1 (num_params, layers, width, heads, batch size in tokens, lr)", None,
              derived_from="raw_data/gpt3/gpt3_metadata.xlsx, converted to CSV"),
        Table("olmo", "olmo.csv", "008a3a0ff6a6f0832ecbe6498e1720f17864f23ffda4a9ce3239bf2ceec0ad8a", 1068491, 1708,
              "OLMo-1B/7B/7B-Twin-2T checkpoints (W&B exports): Step (tokens = Step x 4e6), "
              "*-validation/CrossEntropyLoss [nats/token], perplexities, downstream accuracies",
              "aggregated_eval/olmo.csv"),
        Table("t5_pile", "t5_pile.csv", "2d290d98eac37d8abd6b967c20f330b553b459139f02620a96893c00facc2da1", 592542, 807,
              "Pile-T5 base/large/xl/xxl t5x logs: steps (tokens = steps x 1e6), val_perplexity; several raw columns "
              "are not physical", "aggregated_eval/t5_pile.csv"),
        Table("revisiting_lang", "revisiting_lang.csv",
              "63c346db00a66b692e1ea9a0f71a2f2b267e55f74be5b863a92e199dffbf0983", 82032, 1399,
              "Alabdulmohsin et al. 2022 learning-curve benchmark (language): Domain, Task, Model, Seen Examples, "
              "Loss, Training", "aggregated_eval/revisiting_lang.csv"),
        Table("llms_0-shot", "LLMs_0-shot.csv", "28158ea0db677bc5f55f2db7587600856c098e2f301e01516eaf935c273b7ed5",
              14766, 118,
              "zero-shot evaluations of public LLMs compiled by the authors (two header rows, flattened to "
              "'metric sub-metric', e.g. 'wikitext ppl')", "aggregated_eval/LLMs - 0-shot.csv", header_rows=2),
    ),
)

_PYTHIA = Dataset(
    name="pythia",
    description="Pythia 70M-12B (standard and deduplicated Pile), zero-shot at 27 and five-shot at 15 checkpoints: "
                "LAMBADA perplexity and downstream accuracies (no Pile loss)",
    citation=Citation("S. Biderman et al.", 2023,
                      "Pythia: A Suite for Analyzing Large Language Models Across Training and Scaling",
                      "ICML 2023, arXiv:2304.01373"),
    repository="https://github.com/EleutherAI/pythia",
    commit="a19eecb807ec2c79a39ebf18108816e6ffffc1d5",
    licence="Apache-2.0",
    default="pythia_evals",
    tables=(
        Table("pythia_evals", "pythia_evals.csv",
              "410ba76ffa24106943e56fbc986e45ae92f275c36259c4ff95507fbb15ee80de", 228559, 672,
              "one row per (model, shots, checkpoint): params_total / params_nonembedding [parameters], step, tokens "
              "= step x 2,097,152, lambada_ppl [exp nats/word, not per token], accuracies [0-1]; not a runs table "
              "(no loss in nats/token; step 0 has 0 tokens)", None,
              derived_from="evals/pythia-v1/<model>/{zero-shot,five-shot}/*.json, lm-eval-harness outputs flattened to CSV",
              params_convention="params_total with embeddings (input and output), params_nonembedding without"),
    ),
)

_OBS_DESC = ("Model, Model Family, 'Model Size (B)' [1e9 parameters], 'Pretraining Data Size (T)' [1e12 tokens], "
             "'FLOPs (1E21)' [1e21 FLOP], benchmark scores [0-1]")
_OBS = Dataset(
    name="obsscaling",
    description="Ruan et al. 2024 observational scaling: ~150 public LLMs with size, tokens, FLOPs and benchmark "
                "scores (no loss)",
    citation=Citation("Y. Ruan, C. J. Maddison, T. Hashimoto", 2024,
                      "Observational Scaling Laws and the Predictability of Language Model Performance",
                      "NeurIPS 2024, arXiv:2405.10938"),
    repository="https://github.com/ryoungj/ObsScaling",
    commit="4d6e1e43fd2635d04654aa77d1df9d5266ea0382",
    licence="Apache-2.0",
    default="base_llm_benchmark_eval",
    tables=(
        Table("base_llm_benchmark_eval", "base_llm_benchmark_eval.csv",
              "511996815735a4c46251dc585dcc525e370d148201f86561e6f927f9df2d0db8", 28155, 148,
              "base models, 8 standard benchmarks: " + _OBS_DESC, "eval_results/base_llm_benchmark_eval.csv"),
        Table("base_llm_benchmark_eval_sub_10b", "base_llm_benchmark_eval_sub_10b.csv",
              "6a5fe6143b1fd86c2c10368de05e204c89ab6652b0f7e97c4965c37bff360d1d", 17838, 92,
              "sub-10B base models, unified re-evaluation: " + _OBS_DESC,
              "eval_results/base_llm_benchmark_eval_sub_10b.csv"),
        Table("base_llm_emergent_capability_eval", "base_llm_emergent_capability_eval.csv",
              "a156beee73c39b7833c3c53535c473939105512d85e90b0143be7325e516ef7c", 7984, 84,
              "BIG-bench 'emergent' tasks (2-shot) for the base models",
              "eval_results/base_llm_emergent_capability_eval.csv"),
        Table("base_llm_leaderboard_v2_eval", "base_llm_leaderboard_v2_eval.csv",
              "ace728c962dfb2b9133fe92081c818e3fba01391694c9590fa0198f850062563", 10098, 72,
              "Open LLM Leaderboard v2 metrics for the base models", "eval_results/base_llm_leaderboard_v2_eval.csv"),
        Table("instruct_llm_benchmark_eval", "instruct_llm_benchmark_eval.csv",
              "9bc50f327f4e436b15a6d6e3edb8b4837e726b295a1c72d44fadb9c9d25a75ba", 4763, 27,
              "instruction-tuned models (Arena-Elo, MTBench, benchmarks): " + _OBS_DESC,
              "eval_results/instruct_llm_benchmark_eval.csv"),
    ),
)

#: every registered data set by name
REGISTRY: dict[str, Dataset] = {d.name: d for d in (_EPOCH, _PORIAN, _LI, _GADRE, _CHOSHEN, _PYTHIA, _OBS)}
