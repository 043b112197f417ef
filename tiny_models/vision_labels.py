"""The label maps the real vision repos publish in their config.json, at their real sizes.

A classifier's or segmenter's head is as wide as its label map, and the answers name its labels,
so the stand-ins carry the real maps, not a sample. Sources, per map:
- ImageNet-1k and ImageNet-22k (21,841 classes): timm's own class lists, shipped in the timm
  package (timm.data.ImageNetInfo), read offline. They are the lists transformers' conversion
  scripts load from huggingface/label-files (imagenet-1k-id2label.json; imagenet-22k-id2label.json
  less the two classes BEiT's head lacks): convert_beit_unilm_to_pytorch.py expects class 2397
  ("tabby, tabby cat") for its cat photo, which is index 2397 here.
- ADE20K's 150 classes (label-files ade20k-id2label.json, each class by its first name) and
  Cityscapes' 19 (label-files cityscapes-id2label.json): the SegFormer fine-tunes'.
- COCO panoptic (facebook/detr-resnet-50-panoptic, 250 outputs): COCO's 91 detection ids for
  things (1-90, "N/A" in the gaps), the 53 panoptic stuff classes at ids 92-200 (panopticapi's
  panoptic_coco_categories.json), "N/A" for the ids no category uses. transformers'
  convert_detr_to_pytorch.py sets num_labels 250 for panoptic; its pipeline test names
  "blanket" and "couch" among the real repo's segments; the old post_process_panoptic's
  is_thing_map took ids <= 90 for things.
"""

from __future__ import annotations

from models_server.tasks.transformers.vision import COCO_CLASSES

ADE20K_150 = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle",
    "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven",
    "ball", "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
    "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
    "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
    "glass", "clock", "flag",
)
CITYSCAPES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)
# COCO's detection ids with no category (DETR's 91 outputs name them "N/A").
COCO_UNUSED_IDS = (0, 12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
COCO_PANOPTIC_STUFF = {
    92: "banner", 93: "blanket", 95: "bridge", 100: "cardboard", 107: "counter", 109: "curtain",
    112: "door-stuff", 118: "floor-wood", 119: "flower", 122: "fruit", 125: "gravel", 128: "house",
    130: "light", 133: "mirror-stuff", 138: "net", 141: "pillow", 144: "platform", 145: "playingfield",
    147: "railroad", 148: "river", 149: "road", 151: "roof", 154: "sand", 155: "sea", 156: "shelf",
    159: "snow", 161: "stairs", 166: "tent", 168: "towel", 171: "wall-brick", 175: "wall-stone",
    176: "wall-tile", 177: "wall-wood", 178: "water-other", 180: "window-blind", 181: "window-other",
    184: "tree-merged", 185: "fence-merged", 186: "ceiling-merged", 187: "sky-other-merged",
    188: "cabinet-merged", 189: "table-merged", 190: "floor-other-merged", 191: "pavement-merged",
    192: "mountain-merged", 193: "grass-merged", 194: "dirt-merged", 195: "paper-merged",
    196: "food-other-merged", 197: "building-other-merged", 198: "rock-merged", 199: "wall-other-merged",
    200: "rug-merged",
}
DETR_PANOPTIC_OUTPUTS = 250
LAST_THING_ID = 90  # the old post-processing's is_thing_map: ids up to 90 are things


def coco_detection() -> dict[int, str]:
    """COCO's 91 detection ids as DETR numbers them: the 80 classes in order, "N/A" in the gaps."""
    names = iter(COCO_CLASSES)
    return {i: "N/A" if i in COCO_UNUSED_IDS else next(names) for i in range(LAST_THING_ID + 1)}


def coco_panoptic() -> dict[int, str]:
    """DETR panoptic's 250 outputs: things at their detection ids, stuff at its panoptic ids."""
    things = coco_detection()
    return {i: things.get(i) or COCO_PANOPTIC_STUFF.get(i, "N/A") for i in range(DETR_PANOPTIC_OUTPUTS)}


def imagenet_1k() -> dict[int, str]:
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-1k")
    return {i: info.index_to_description(i) for i in range(info.num_classes())}


def imagenet_22k() -> dict[int, str]:
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-22k")
    return {i: info.index_to_description(i) for i in range(info.num_classes())}


def ade20k() -> dict[int, str]:
    return dict(enumerate(ADE20K_150))


def cityscapes() -> dict[int, str]:
    return dict(enumerate(CITYSCAPES))
