"""Image + caption pairs (DeepSeek-VL stage 1, every Janus stage), optionally VQ-tokenized.

    vlforge run captions INPUTS -o OUT [--set captions.image_root=DIR] [--set vq.model=VQ_DIR]

Input layouts (documents.captions parses them; one item = one image):
    LLaVA / ShareGPT4V   `.json` (a list) or `.jsonl` of {"id", "image", "conversations"}:
                         the image path is relative to `captions.image_root` (default: the
                         annotation file's folder); the caption is the first reply ("gpt").
    COCO captions        `.json` with "images" and "annotations": one item per image, the text
                         is its first caption (lowest annotation id), all of them in metadata.
    img2dataset          `.tar` WebDataset shards (KEY.jpg/png/webp + KEY.txt + KEY.json) and
                         `.parquet` with image bytes (`captions.parquet.*` name the columns).
                         Shards this corpus wrote are read back with their keys and metadata:
                         that is the "VQ-tokenize existing shards" job.
    caption folders      image files with a same-named `.txt` beside them.
    class folders        `ROOT/<class>/<image>` with `captions.classes=MAP` (Keras
                         imagenet_class_index.json, {"wnid": "name"} JSON, or LOC_synset_mapping
                         lines): the text is the class name (Janus's `<category_name><image>`).
Give annotation files (not their image folders) as inputs for the first two layouts.

The shard layout (schema v2, shards/writer; the trainer reads exactly this):
    KEY.png    the image, as a viewer shows it, always PNG (JPEG/WebP inputs are decoded and
               stored losslessly), its original size (no resizing here)
    KEY.txt    the caption, or the class name (text_kind "plain")
    KEY.json   the common record; its "metadata" (a JSON string) holds:
        kind            "caption" | "class_name"
        uses            what the pair serves: ["understanding", "generation"] for captions
                        (caption as the answer to the image, and as the prompt for the image),
                        ["generation"] for class names
        first_sentence  the caption's first sentence (Janus keeps only it for 25% of the
                        generation prompts); the class name for class images
        layout          llava | coco | webdataset | parquet | caption_folder | class_folder
        image_sha256, image_phash, image_dedup   exact and perceptual digests (filters.phash)
        language        {"code", "score"} when captions.languages is set
        class_index, class_id, class_names       class folders only
        captions, question, id, url              what the layout had (COCO's other captions,
                                                 LLaVA's human turn and id, img2dataset's url)
        vq              only when the VQ stage ran:
                        {"ids": [576 ints, row-major over the 24x24 grid],
                         "grid": [24, 24], "codebook_size": N, "model": folder name,
                         "size": 384, "view": "short_side_resize_center_crop"}
    The ids live in the metadata JSON, so webdataset, Hugging Face `datasets`
    (load_dataset("webdataset")) and plain tarfile readers all get them with no extra member:
    `json.loads(record["metadata"])["vq"]["ids"]`.
"""
