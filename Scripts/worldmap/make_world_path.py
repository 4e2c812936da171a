#!/usr/bin/env python3
"""Generate the status page's world outline (Sources/AdminAPI/StatusWorldMap.swift) once.

Input: Natural Earth 1:110m land (public domain), as the TopoJSON `land-110m.json` that the
world-atlas package builds from it (see Scripts/worldmap/README.md for where to get it).
Output: one SVG path in an equirectangular projection, x = longitude + 180 (0...360),
y = 90 - latitude (0...180), simplified with Douglas-Peucker and rounded to 0.1 degree,
wrapped in a Swift string literal so the page needs no file, CDN or tile server at run time.

    python3 Scripts/worldmap/make_world_path.py land-110m.json > Sources/AdminAPI/StatusWorldMap.swift

Standard library only; the output is deterministic for the same input.
"""
import json
import sys

TOLERANCE = 0.25   # degrees; Douglas-Peucker tolerance
MIN_EXTENT = 1.0   # degrees; rings smaller than this in both directions are dropped
SOUTH_EDGE = -60.0  # the page's map ends here (its viewBox); rings wholly south of it are dropped


def decode_arcs(topology):
    """TopoJSON arcs: quantized and delta-encoded when a transform is present."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        points = []
        x = y = 0
        for position in arc:
            if transform:
                x += position[0]
                y += position[1]
                sx, sy = transform["scale"]
                tx, ty = transform["translate"]
                points.append((x * sx + tx, y * sy + ty))
            else:
                points.append((position[0], position[1]))
        arcs.append(points)
    return arcs


def ring(arcs, indexes):
    """Joins the arcs of one ring; a negative index ~i means arc i reversed."""
    points = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        points.extend(arc if not points else arc[1:])
    return points


def unwrap(points):
    """Makes longitudes continuous: a step of more than 180 degrees crosses the antimeridian
    (Fiji, Chukotka), which drawn as it is would be a line across the whole map."""
    result = [points[0]]
    offset = 0.0
    for (lon0, _), (lon, lat) in zip(points, points[1:]):
        if lon - lon0 > 180:
            offset -= 360.0
        elif lon0 - lon > 180:
            offset += 360.0
        result.append((lon + offset, lat))
    return result


def simplify(points, tolerance):
    """Douglas-Peucker, iterative."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        dx, dy = x2 - x1, y2 - y1
        length2 = dx * dx + dy * dy
        best, best_index = 0.0, None
        for i in range(first + 1, last):
            px, py = points[i]
            if length2 == 0:
                d2 = (px - x1) ** 2 + (py - y1) ** 2
            else:
                t = max(0.0, min(1.0, ((px - x1) * dx + (py - y1) * dy) / length2))
                d2 = (px - x1 - t * dx) ** 2 + (py - y1 - t * dy) ** 2
            if d2 > best:
                best, best_index = d2, i
        if best_index is not None and best > tolerance * tolerance:
            keep[best_index] = True
            stack.append((first, best_index))
            stack.append((best_index, last))
    return [p for p, k in zip(points, keep) if k]


def fmt(value):
    text = f"{value:.1f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_world_path.py land-110m.json > Sources/AdminAPI/StatusWorldMap.swift")
    with open(sys.argv[1], encoding="utf-8") as f:
        topology = json.load(f)
    arcs = decode_arcs(topology)
    land = topology["objects"]["land"]
    polygons = land["arcs"] if land["type"] == "MultiPolygon" else [land["arcs"]]
    parts = []
    for polygon in polygons:
        for indexes in polygon:
            points = ring(arcs, indexes)
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            if max(xs) - min(xs) < MIN_EXTENT and max(ys) - min(ys) < MIN_EXTENT:
                continue
            if max(ys) < SOUTH_EDGE:
                continue
            points = simplify(unwrap(points), TOLERANCE)
            if len(points) < 4:
                continue
            # A ring unwrapped past the antimeridian is drawn twice, once shifted by 360 degrees,
            # so both of its sides show (the SVG viewBox clips what lies outside the map).
            lons = [lon for lon, _ in points]
            shifts = [0.0]
            if max(lons) > 180:
                shifts.append(-360.0)
            if min(lons) < -180:
                shifts.append(360.0)
            for shift in shifts:
                projected = [(lon + shift + 180.0, 90.0 - lat) for lon, lat in points]
                d = "M" + fmt(projected[0][0]) + " " + fmt(projected[0][1])
                for x, y in projected[1:-1]:
                    d += "L" + fmt(x) + " " + fmt(y)
                parts.append(d + "Z")
    path = "".join(parts)
    print("// Generated by Scripts/worldmap/make_world_path.py from Natural Earth 1:110m land")
    print("// (public domain; see Scripts/worldmap/README.md). Do not edit by hand.")
    print()
    print("/// The status page's world outline: one SVG path, equirectangular, viewBox 0 0 360 180")
    print("/// (x = longitude + 180, y = 90 - latitude).")
    print("enum StatusWorldMap {")
    print("    /// The land outline as SVG path data.")
    print(f"    static let landPath = \"{path}\"")
    print("}")


if __name__ == "__main__":
    main()
